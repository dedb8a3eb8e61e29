package users

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// seedTime is the fixed moment the seed data is dated from: every seeded user was created
// before it.
var seedTime = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// seed returns the deterministic users that a new Service holds, each created a number of
// days before seedTime.
func seed() []*usersv1.User {
	type row struct {
		id, displayName, email string
		suspended              bool
		tags                   []string
		street, city, postal   string
		country                string
		daysAgo                int
	}
	rows := []row{
		{"ada-lovelace", "Ada Lovelace", "ada@example.org", false, []string{"vip", "newsletter"}, "12 St James's Square", "London", "SW1Y 4JH", "GB", 84},
		{"alan-turing", "Alan Turing", "alan.turing@example.org", false, []string{"newsletter"}, "78 High Street", "Wilmslow", "SK9 1AB", "GB", 80},
		{"grace-hopper", "Grace Hopper", "grace@example.com", false, []string{"vip"}, "1 Navy Way", "Arlington", "22202", "US", 75},
		{"katherine-johnson", "Katherine Johnson", "katherine.johnson@example.com", false, []string{"newsletter", "beta"}, "21 Langley Blvd", "Hampton", "23666", "US", 70},
		{"linus-torvalds", "Linus Torvalds", "linus@example.net", false, nil, "Mannerheimintie 5", "Helsinki", "00100", "FI", 63},
		{"margaret-hamilton", "Margaret Hamilton", "margaret@example.com", false, []string{"vip", "beta"}, "77 Massachusetts Ave", "Cambridge", "02139", "US", 56},
		{"tim-berners-lee", "Tim Berners-Lee", "timbl@example.org", true, nil, "5 Queen's Road", "Oxford", "OX1 3QD", "GB", 49},
		{"barbara-liskov", "Barbara Liskov", "liskov@example.com", false, []string{"newsletter"}, "32 Vassar St", "Cambridge", "02139", "US", 42},
		{"hedy-lamarr", "Hedy Lamarr", "hedy@example.at", false, []string{"vip", "newsletter"}, "Mariahilfer Straße 88", "Wien", "1070", "AT", 35},
		{"konrad-zuse", "Konrad Zuse", "konrad.zuse@example.de", false, []string{"beta"}, "Methfesselstraße 7", "Berlin", "10965", "DE", 28},
		{"emmy-noether", "Emmy Noether", "emmy@example.de", true, []string{"newsletter"}, "Bunsenstraße 3", "Göttingen", "37073", "DE", 21},
		{"marie-curie", "Marie Curie", "marie.curie@example.fr", false, []string{"vip"}, "11 Rue Pierre et Marie Curie", "Paris", "75005", "FR", 14},
	}
	users := make([]*usersv1.User, 0, len(rows))
	for _, r := range rows {
		created := seedTime.AddDate(0, 0, -r.daysAgo)
		state := usersv1.UserState_USER_STATE_ACTIVE
		if r.suspended {
			state = usersv1.UserState_USER_STATE_SUSPENDED
		}
		users = append(users, &usersv1.User{
			Name:        "users/" + r.id,
			DisplayName: r.displayName,
			Email:       r.email,
			State:       state,
			Tags:        r.tags,
			Address: &usersv1.Address{
				Street:      r.street,
				City:        r.city,
				PostalCode:  r.postal,
				CountryCode: r.country,
			},
			CreateTime: timestamppb.New(created),
			UpdateTime: timestamppb.New(created.Add(time.Duration(r.daysAgo) * time.Hour)),
		})
	}
	return users
}

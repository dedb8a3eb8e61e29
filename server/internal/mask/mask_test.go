package mask_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
	"github.com/archway-gateway/archway/server/internal/mask"
)

func product() *catalogv1.Product {
	return &catalogv1.Product{
		Id:         "sku-1",
		Title:      "One",
		Price:      &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: 100},
		Tags:       []string{"a"},
		CreateTime: timestamppb.New(timestamppb.Now().AsTime()),
	}
}

func TestKeep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		paths []string
		want  *catalogv1.Product
	}{
		{"no paths keeps all", nil, product()},
		{"top level", []string{"id", "tags"}, &catalogv1.Product{Id: "sku-1", Tags: []string{"a"}}},
		{"nested", []string{"price.currency_code"}, &catalogv1.Product{Price: &catalogv1.Money{CurrencyCode: "EUR"}}},
		{"ancestor wins, either order", []string{"price.currency_code", "price", "price.amount_minor"},
			&catalogv1.Product{Price: &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: 100}}},
		{"ancestor first", []string{"price", "price.currency_code"},
			&catalogv1.Product{Price: &catalogv1.Money{CurrencyCode: "EUR", AmountMinor: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := product()
			if tt.paths == nil {
				tt.want.CreateTime = p.CreateTime
			}
			mask.Keep(p, tt.paths)
			if !proto.Equal(p, tt.want) {
				t.Errorf("Keep(%v) = %v, want %v", tt.paths, p, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"read ok", mask.CheckRead(&fieldmaskpb.FieldMask{Paths: []string{"id", "price.amount_minor"}}, &catalogv1.Product{}, "read_mask"), true},
		{"read nil", mask.CheckRead(nil, &catalogv1.Product{}, "read_mask"), true},
		{"read unknown", mask.CheckRead(&fieldmaskpb.FieldMask{Paths: []string{"id", "price.cents"}}, &catalogv1.Product{}, "read_mask"), false},
		{"read through list", mask.CheckRead(&fieldmaskpb.FieldMask{Paths: []string{"tags.x"}}, &catalogv1.Product{}, "read_mask"), false},
		{"allowed", mask.CheckAllowed(&fieldmaskpb.FieldMask{Paths: []string{"a"}}, []string{"a", "b"}, "update_mask"), true},
		{"not allowed", mask.CheckAllowed(&fieldmaskpb.FieldMask{Paths: []string{"a", "c"}}, []string{"a", "b"}, "update_mask"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ok != (tt.err == nil) || (!tt.ok && status.Code(tt.err) != codes.InvalidArgument) {
				t.Errorf("error = %v, want ok=%v", tt.err, tt.ok)
			}
		})
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	dst := &usersv1.User{DisplayName: "Old", Email: "old@example.com", Tags: []string{"x"}}
	src := &usersv1.User{DisplayName: "New", Address: &usersv1.Address{City: "Berlin", Street: "ignored"}}
	mask.Copy(dst, src, []string{"display_name", "tags", "address.city"})
	want := &usersv1.User{DisplayName: "New", Email: "old@example.com", Address: &usersv1.Address{City: "Berlin"}}
	if !proto.Equal(dst, want) {
		t.Errorf("Copy = %v, want %v", dst, want)
	}
	if got := mask.Populated(src, "display_name", "email", "address", "nope"); len(got) != 2 || got[0] != "display_name" || got[1] != "address" {
		t.Errorf("Populated = %v, want [display_name address]", got)
	}
}

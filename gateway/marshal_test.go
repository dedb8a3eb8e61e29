package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	edgev1 "github.com/archway-gateway/archway/gen/archway/edge/v1"
	catalogv1 "github.com/archway-gateway/archway/gen/storefront/catalog/v1"
	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
	usersv1 "github.com/archway-gateway/archway/gen/storefront/users/v1"
)

// goldenCorpus returns messages of every type that the storefront and composite APIs declare,
// empty and populated with edge values (unicode and escapes, extreme integers, unknown enum
// numbers, repeated fields, nested messages, timestamps), and the well-known types.
func goldenCorpus(t *testing.T) []proto.Message {
	t.Helper()
	var corpus []proto.Message
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		pkg := string(fd.Package())
		if !strings.HasPrefix(pkg, "storefront.") && pkg != "archway.edge.v1" {
			return true
		}
		msgs := fd.Messages()
		for i := range msgs.Len() {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(i).FullName())
			if err != nil {
				t.Fatalf("message type %s: %v", msgs.Get(i).FullName(), err)
			}
			corpus = append(corpus, mt.New().Interface())
			for variant := range len(edgeStrings) {
				m := mt.New()
				populate(m, variant, 0)
				corpus = append(corpus, m.Interface())
			}
		}
		return true
	})
	if len(corpus) < 50 {
		t.Fatalf("corpus has %d messages; the generated API types are not linked in", len(corpus))
	}
	value, err := structpb.NewValue(map[string]any{"a": []any{1.5, "x", nil, true}, "é": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	corpus = append(corpus, scalarCorpus(t)...)
	corpus = append(corpus,
		&usersv1.User{DisplayName: "bad \xff UTF-8"},
		&usersv1.User{Tags: []string{"ok", "\xc3"}},
		&usersv1.User{CreateTime: &timestamppb.Timestamp{Seconds: 253402300800}},
		&usersv1.User{CreateTime: &timestamppb.Timestamp{Nanos: -1}},
		&usersv1.User{CreateTime: &timestamppb.Timestamp{Seconds: -62135596800, Nanos: 999_999_999}},
		&usersv1.User{CreateTime: &timestamppb.Timestamp{Seconds: 1, Nanos: 1_000}},
		&usersv1.User{CreateTime: &timestamppb.Timestamp{Seconds: 1, Nanos: 100_000_000}},
	)
	return append(corpus,
		timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)),
		durationpb.New(-1500*time.Millisecond),
		&fieldmaskpb.FieldMask{Paths: []string{"display_name", "address.postal_code"}},
		wrapperspb.Int64(math.MinInt64), wrapperspb.Double(math.Inf(-1)), wrapperspb.String("\u2028"),
		value, &emptypb.Empty{},
	)
}

// scalarCorpus returns messages of a test type with a field of every scalar kind, singular and
// repeated, and a recursive field: the kinds that the API types do not all use, with the
// values where JSON number and string formatting has edges.
func scalarCorpus(t *testing.T) []proto.Message {
	t.Helper()
	kinds := []descriptorpb.FieldDescriptorProto_Type{
		descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, descriptorpb.FieldDescriptorProto_TYPE_FLOAT,
		descriptorpb.FieldDescriptorProto_TYPE_INT64, descriptorpb.FieldDescriptorProto_TYPE_UINT64,
		descriptorpb.FieldDescriptorProto_TYPE_INT32, descriptorpb.FieldDescriptorProto_TYPE_FIXED64,
		descriptorpb.FieldDescriptorProto_TYPE_FIXED32, descriptorpb.FieldDescriptorProto_TYPE_BOOL,
		descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_BYTES,
		descriptorpb.FieldDescriptorProto_TYPE_UINT32, descriptorpb.FieldDescriptorProto_TYPE_SFIXED32,
		descriptorpb.FieldDescriptorProto_TYPE_SFIXED64, descriptorpb.FieldDescriptorProto_TYPE_SINT32,
		descriptorpb.FieldDescriptorProto_TYPE_SINT64,
	}
	msg := &descriptorpb.DescriptorProto{Name: proto.String("Scalars")}
	for i, k := range kinds {
		for j, label := range []descriptorpb.FieldDescriptorProto_Label{
			descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED,
		} {
			name := fmt.Sprintf("f_%s_%d", strings.ToLower(k.String()), j)
			msg.Field = append(msg.Field, &descriptorpb.FieldDescriptorProto{
				Name: proto.String(name), Number: proto.Int32(int32(2*i + j + 1)), Type: k.Enum(), Label: label.Enum(),
			})
		}
	}
	msg.Field = append(msg.Field, &descriptorpb.FieldDescriptorProto{
		Name: proto.String("child"), Number: proto.Int32(100), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
		TypeName: proto.String(".archway.test.Scalars"), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
	})
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("archway/test/scalars.proto"), Package: proto.String("archway.test"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{msg},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().Get(0)
	floats := []float64{0.1, math.Copysign(0, -1), 1e-7, 1e-6, 123456789.125, 1e20, 1e21, -2.5e-300, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.MaxFloat32, math.NaN(), math.Inf(1), math.Inf(-1)}
	var corpus []proto.Message
	for _, f := range floats {
		m := dynamicpb.NewMessage(md)
		populate(m, int(math.Float64bits(f)%3), 0)
		m.Set(md.Fields().ByName("f_type_double_0"), protoreflect.ValueOfFloat64(f))
		m.Set(md.Fields().ByName("f_type_float_0"), protoreflect.ValueOfFloat32(float32(f)))
		list := m.Mutable(md.Fields().ByName("f_type_double_1")).List()
		list.Append(protoreflect.ValueOfFloat64(-f))
		corpus = append(corpus, m)
	}
	return corpus
}

var edgeStrings = []string{
	"Ünïcødé ☕ 日本語 \U0001F600",
	"quotes \" and \\ backslash, <html> & \u2028\u2029 \ufffd, control \x00\x01\b\f\n\r\t\x1f\x7f",
	"x",
}

var edgeInts = []int64{math.MaxInt64, math.MinInt64, 1}

// populate sets every field of m, choosing values by variant; messages nest up to depth 3.
func populate(m protoreflect.Message, variant, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			list := m.Mutable(fd).List()
			for j := range 3 {
				if fd.Kind() == protoreflect.MessageKind {
					elem := list.NewElement()
					populate(elem.Message(), variant+j, depth+1)
					list.Append(elem)
				} else {
					list.Append(scalar(fd, variant+j))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 3 {
				sub := m.Mutable(fd).Message()
				populateMessage(sub, variant, depth+1)
			}
		default:
			m.Set(fd, scalar(fd, variant))
		}
	}
}

// populateMessage fills a nested message, giving well-known types valid values.
func populateMessage(m protoreflect.Message, variant, depth int) {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		ts := timestamppb.New(time.Date(2026, 3, 2, 9, 0, 0, variant*123_000_000, time.UTC))
		proto.Merge(m.Interface(), ts)
	case "google.protobuf.FieldMask":
		proto.Merge(m.Interface(), &fieldmaskpb.FieldMask{Paths: []string{"display_name", "address.city"}})
	default:
		populate(m, variant, depth)
	}
}

func scalar(fd protoreflect.FieldDescriptor, variant int) protoreflect.Value {
	n := edgeInts[variant%len(edgeInts)]
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(edgeStrings[variant%len(edgeStrings)])
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 0xff, byte(variant)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(variant%2 == 0)
	case protoreflect.EnumKind:
		if variant%3 == 2 {
			return protoreflect.ValueOfEnum(99)
		}
		values := fd.Enum().Values()
		return protoreflect.ValueOfEnum(values.Get(values.Len() - 1 - variant%values.Len()).Number())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(n)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n >> 32))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) / 3)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) / 3)
	default:
		panic(fmt.Sprintf("no test value for %v", fd.Kind()))
	}
}

// protojsonCompact is protojson's output without the whitespace it adds at random (a space
// after commas, in some builds).
func protojsonCompact(msg proto.Message) ([]byte, error) {
	data, err := protojson.MarshalOptions{}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// The gateway's marshaler writes byte for byte what protojson writes, compacted, for every
// message of the corpus, also when its pooled buffers are reused across messages of very
// different sizes; it fails on the same messages.
func TestMarshalMatchesProtojson(t *testing.T) {
	t.Parallel()
	m := newJSONMarshaler(true)
	corpus := goldenCorpus(t)
	for round := range 3 {
		for i, msg := range corpus {
			want, err := protojsonCompact(msg)
			got, gotErr := m.Marshal(msg)
			if (err != nil) != (gotErr != nil) {
				t.Fatalf("round %d, %s #%d: error %v, want %v", round, msg.ProtoReflect().Descriptor().FullName(), i, gotErr, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d, %s #%d: %s", round, msg.ProtoReflect().Descriptor().FullName(), i, firstDifference(got, want))
			}
		}
	}
}

// The encoder covers every response type of the gateway's APIs, so that they take the fast
// path rather than falling back to protojson.
func TestEncoderCoversTheAPI(t *testing.T) {
	t.Parallel()
	for _, msg := range []proto.Message{
		&catalogv1.Product{}, &catalogv1.ListProductsResponse{}, &catalogv1.BatchGetProductsResponse{},
		&catalogv1.GetStockResponse{}, &ordersv1.Order{}, &ordersv1.ListOrdersResponse{}, &ordersv1.OrderEvent{},
		&usersv1.User{}, &usersv1.ListUsersResponse{}, &edgev1.UserOverview{}, &edgev1.ProductPage{},
	} {
		if md := msg.ProtoReflect().Descriptor(); !planFor(md).fast {
			t.Errorf("%s is encoded by protojson, not by the gateway's encoder", md.FullName())
		}
	}
	for _, msg := range []proto.Message{&structpb.Struct{}, &catalogv1.GetProductRequest{}} {
		if md := msg.ProtoReflect().Descriptor(); planFor(md).fast {
			t.Errorf("%s reaches types the encoder does not cover, yet is marked fast", md.FullName())
		}
	}
}

// firstDifference shows where got and want part, with some context.
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("differ at byte %d:\n got …%s\nwant …%s", i, got[from:min(len(got), i+40)], want[from:min(len(want), i+40)])
}

// A message decoded from a body keeps its values after the (pooled) buffer that held the body is
// reused for another one.
func TestDecodedMessageOutlivesItsBody(t *testing.T) {
	t.Parallel()
	m := newJSONMarshaler(true)
	var first usersv1.User
	if err := m.NewDecoder(strings.NewReader(`{"displayName":"Ada","email":"ada@example.org","tags":["a","b"]}`)).Decode(&first); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		var other usersv1.User
		if err := m.NewDecoder(strings.NewReader(`{"displayName":"Xxx","email":"zzz@example.org","tags":["c","d"]}`)).Decode(&other); err != nil {
			t.Fatal(err)
		}
	}
	if first.GetDisplayName() != "Ada" || first.GetEmail() != "ada@example.org" || strings.Join(first.GetTags(), ",") != "a,b" {
		t.Errorf("first message changed after later decodes: %v", &first)
	}
}

// dynamicpb messages take the same path as generated ones.
func TestMarshalDynamicMessage(t *testing.T) {
	t.Parallel()
	msg := dynamicpb.NewMessage((&usersv1.Address{}).ProtoReflect().Descriptor())
	populate(msg, 1, 0)
	want, err := protojsonCompact(msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newJSONMarshaler(true).Marshal(msg)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Marshal = %s, %v; want %s", got, err, want)
	}
}

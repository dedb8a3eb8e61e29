package apis_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"

	"github.com/archway-gateway/archway/gateway/apis"
	"github.com/archway-gateway/archway/gateway/transcode"
)

// warehouseSet is the descriptor set that `make generate` builds with buf.
const warehouseSet = "../../integration/testdata/warehouse.binpb"

// TestLoadBufImage: a set written by `buf build` loads, its services resolve within it, and their
// google.api.http options are parsed as the linked extension type.
func TestLoadBufImage(t *testing.T) {
	t.Parallel()
	set, err := apis.Load([]string{warehouseSet})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Services(); !slices.Equal(got, []string{"acme.inventory.v1.WarehouseService"}) {
		t.Fatalf("Services() = %q", got)
	}
	svc, ok := set.Lookup("acme.inventory.v1.WarehouseService")
	if !ok || svc.Source != warehouseSet {
		t.Fatalf("Lookup = %+v, %v", svc, ok)
	}
	md := svc.Descriptor.Methods().ByName("GetWarehouse")
	rule := transcode.Rule(md)
	if rule == nil || rule.GetGet() != "/v1/{name=warehouses/*}" {
		t.Fatalf("GetWarehouse's rule = %v", rule)
	}
	if _, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule); !ok {
		t.Error("the option is not decoded as the linked type")
	}
	if _, ok := set.Lookup("acme.inventory.v1.Nope"); ok {
		t.Error("Lookup found a service no set defines")
	}
}

// TestLoadReportsEveryBadSet: every set that cannot be loaded is reported, each naming its file.
func TestLoadReportsEveryBadSet(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty.binpb")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := apis.Load([]string{empty, "missing.binpb", warehouseSet, warehouseSet})
	if err == nil {
		t.Fatal("Load accepted them")
	}
	for _, want := range []string{"empty.binpb: holds no files", "missing.binpb", "service acme.inventory.v1.WarehouseService is also defined in"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

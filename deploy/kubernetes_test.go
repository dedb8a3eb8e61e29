package deploy_test

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/archway-gateway/archway/gateway"
	"github.com/archway-gateway/archway/gateway/config"
)

const (
	manifestDir = "kubernetes"
	namespace   = "archway"
	gatewayName = "archway"
	configKey   = "archway.yaml"
)

// kustomization is the part of kustomize's Kustomization that deploy/kubernetes uses, decoded
// strictly like the Kubernetes objects, so a field this test does not know about is noticed.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// object is one decoded manifest: its file, its kind and the typed object.
type object struct {
	file, kind, name, namespace string
	obj                         any
}

// decodeStrict turns one YAML document into obj, rejecting unknown fields, fields in the wrong
// case and duplicate keys, as the API server's strict field validation does.
func decodeStrict(doc []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// newObject returns an empty object of the API type for apiVersion and kind, or nil for a kind
// the manifests are not expected to hold.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifest decodes every document of a multi-document YAML file.
func decodeManifest(file string, data []byte) ([]object, error) {
	var objs []object
	for _, doc := range docSeparator.Split(string(data), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if tm.APIVersion == "" && tm.Kind == "" && strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			return nil, fmt.Errorf("%s: unexpected kind %q of %q", file, tm.Kind, tm.APIVersion)
		}
		if err := decodeStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, tm.Kind, err)
		}
		meta := obj.(metav1.Object)
		objs = append(objs, object{file: file, kind: tm.Kind, name: meta.GetName(), namespace: meta.GetNamespace(), obj: obj})
	}
	return objs, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// manifests is everything deploy/kubernetes holds, decoded.
type manifests struct {
	kustomization kustomization
	objects       []object
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{}
	if err := decodeStrict(data, &m.kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if m.kustomization.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kustomization.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml is %s %s", m.kustomization.APIVersion, m.kustomization.Kind)
	}
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			onDisk = append(onDisk, base)
		}
	}
	listed := slices.Sorted(slices.Values(m.kustomization.Resources))
	if !slices.Equal(listed, onDisk) {
		t.Fatalf("kustomization.yaml lists %v, the folder holds %v: every manifest must be listed", listed, onDisk)
	}
	for _, f := range listed {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeManifest(f, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 {
			t.Fatalf("%s holds no object", f)
		}
		m.objects = append(m.objects, objs...)
	}
	return m
}

// get returns the object of kind and name, failing the test when there is none.
func get[T any](t *testing.T, m *manifests, kind, name string) T {
	t.Helper()
	for _, o := range m.objects {
		if o.kind == kind && o.name == name {
			return o.obj.(T)
		}
	}
	var zero T
	t.Fatalf("no %s named %q in %s", kind, name, manifestDir)
	return zero
}

func all[T any](m *manifests, kind string) []T {
	var out []T
	for _, o := range m.objects {
		if o.kind == kind {
			out = append(out, o.obj.(T))
		}
	}
	return out
}

func TestStrictDecodingRejectsMistakes(t *testing.T) {
	t.Parallel()
	const good = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: None\n  ports: [{port: 9101}]\n"
	tests := []struct {
		name, doc string
		wantErr   bool
	}{
		{"valid", good, false},
		{"unknown field", strings.Replace(good, "clusterIP", "clusterIp", 1), true},
		{"field in the wrong case", strings.Replace(good, "ports:", "Ports:", 1), true},
		{"misspelt nested field", strings.Replace(good, "port: 9101", "prot: 9101", 1), true},
		{"duplicate key", strings.Replace(good, "  clusterIP: None\n", "  clusterIP: None\n  clusterIP: None\n", 1), true},
		{"wrong type", strings.Replace(good, "9101", "high", 1), true},
		{"unknown kind", strings.Replace(good, "kind: Service", "kind: Serivce", 1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeManifest("test.yaml", []byte(tc.doc))
			if (err != nil) != tc.wantErr {
				t.Fatalf("decodeManifest = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestManifestsNamespaceAndImages(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	for _, o := range m.objects {
		if o.kind == "Namespace" {
			if o.name != namespace {
				t.Errorf("%s: Namespace %q, want %q", o.file, o.name, namespace)
			}
			continue
		}
		if o.namespace != namespace {
			t.Errorf("%s: %s %s is in namespace %q, want %q", o.file, o.kind, o.name, o.namespace, namespace)
		}
	}
	images := map[string]bool{}
	for _, im := range m.kustomization.Images {
		images[im.Name] = im.NewName != "" && im.NewTag != ""
	}
	for _, d := range all[*appsv1.Deployment](m, "Deployment") {
		for _, c := range d.Spec.Template.Spec.Containers {
			if !images[c.Image] {
				t.Errorf("Deployment %s: image %q has no name and tag under kustomization.yaml's images", d.Name, c.Image)
			}
		}
	}
}

// TestDeploymentsAreHardened checks every pod runs as non-root with a read-only root file
// system, no privilege escalation and no capabilities, with requests and limits.
func TestDeploymentsAreHardened(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	deployments := all[*appsv1.Deployment](m, "Deployment")
	if len(deployments) != 4 {
		t.Fatalf("%d Deployments, want 4 (the gateway and three storefront services)", len(deployments))
	}
	for _, d := range deployments {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			pod := d.Spec.Template.Spec
			if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) || len(d.Spec.Selector.MatchExpressions) > 0 {
				t.Errorf("selector %v does not select the pod template's labels %v", d.Spec.Selector, d.Spec.Template.Labels)
			}
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
			}
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("pod securityContext: want seccompProfile RuntimeDefault")
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken must be false: nothing here talks to the API server")
			}
			for _, c := range pod.Containers {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("container %s: no securityContext", c.Name)
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("container %s: root file system is writable", c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("container %s: privilege escalation is allowed", c.Name)
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("container %s: capabilities %+v, want drop [ALL] and none added", c.Name, sc.Capabilities)
				}
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
					if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
						t.Errorf("container %s: %s request %v and limit %v, want both, request <= limit", c.Name, res, req.String(), lim.String())
					}
				}
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("container %s: want readiness and liveness probes", c.Name)
				}
			}
		})
	}
}

// containerPort resolves a probe's or Service's port, a number or a container port's name.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		for _, cp := range c.Ports {
			if int(cp.ContainerPort) == p.IntValue() {
				return p.IntValue()
			}
		}
		t.Fatalf("container %s: port %d is not one of its ports", c.Name, p.IntValue())
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("container %s: no port named %q", c.Name, p.StrVal)
	return 0
}

func namedPort(t *testing.T, c corev1.Container, name string) int {
	t.Helper()
	return containerPort(t, c, intstr.FromString(name))
}

func addrPort(t *testing.T, key, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", key, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Fatalf("%s %q: want a fixed port", key, addr)
	}
	return n
}

// gatewayPod returns the gateway Deployment and its one container.
func gatewayPod(t *testing.T, m *manifests) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := get[*appsv1.Deployment](t, m, "Deployment", gatewayName)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment %s: %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

// gatewayEnviron returns the gateway container's environment as "KEY=value" strings, with the
// values of Secret keys resolved; a non-empty identitySecret replaces the Secret's placeholder.
func gatewayEnviron(t *testing.T, m *manifests, c corev1.Container, identitySecret string) []string {
	t.Helper()
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := get[*corev1.Secret](t, m, "Secret", ref.Name)
			v, ok := s.StringData[ref.Key]
			if !ok {
				b, inData := s.Data[ref.Key]
				if !inData {
					t.Fatalf("env %s: Secret %s has no key %q", e.Name, ref.Name, ref.Key)
				}
				v = string(b)
			}
			if e.Name == "ARCHWAY_AUTHN_IDENTITY_SECRET" && identitySecret != "" {
				v = identitySecret
			}
			env = append(env, e.Name+"="+v)
		default:
			t.Fatalf("env %s: only values and secretKeyRefs are expected", e.Name)
		}
	}
	return env
}

// gatewayConfig returns the archway.yaml that the gateway container reads: the ConfigMap key
// mounted at the path its -config flag names.
func gatewayConfig(t *testing.T, m *manifests, d *appsv1.Deployment, c corev1.Container) []byte {
	t.Helper()
	i := slices.Index(c.Args, "-config")
	if c.Command != nil || len(c.Args) != 3 || c.Args[0] != "serve" || i != 1 {
		t.Fatalf("container %s: args %q, want [serve -config FILE] (and the image's entrypoint)", c.Name, c.Args)
	}
	file := c.Args[2]
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(file) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			cm := get[*corev1.ConfigMap](t, m, "ConfigMap", v.ConfigMap.Name)
			data, ok := cm.Data[path.Base(file)]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %q, which -config names", cm.Name, path.Base(file))
			}
			return []byte(data)
		}
	}
	t.Fatalf("container %s: nothing mounts a ConfigMap at %s, the folder of -config %s", c.Name, path.Dir(file), file)
	return nil
}

const (
	testIdentitySecret = "0123456789abcdef0123456789abcdef-deploy-test"
	// testTrustedProxy is what the tests put in place of the trusted-proxies placeholder, as
	// an operator puts their load balancer's range.
	testTrustedProxy = "192.0.2.0/24"
)

// operatorConfig returns the archway.yaml as an operator deploys it: the trusted-proxies
// placeholder, which must be there exactly once, replaced by testTrustedProxy.
func operatorConfig(t *testing.T, data []byte) []byte {
	t.Helper()
	if n := strings.Count(string(data), config.TrustedProxiesPlaceholder); n != 1 {
		t.Fatalf("archway.yaml holds the placeholder %s %d times, want once", config.TrustedProxiesPlaceholder, n)
	}
	return []byte(strings.ReplaceAll(string(data), config.TrustedProxiesPlaceholder, testTrustedProxy))
}

// TestGatewayConfig checks that the ConfigMap's archway.yaml, with the Deployment's environment,
// is what the gateway accepts and starts with, once the operator has replaced the placeholders
// of the Secret's identity secret and of listen.trusted_proxies; and that it refuses either
// placeholder, so that a known secret or a guessed proxy range is never deployed.
func TestGatewayConfig(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, c := gatewayPod(t, m)
	shipped := gatewayConfig(t, m, d, c)
	data := operatorConfig(t, shipped)
	if _, err := config.Parse(data, gatewayEnviron(t, m, c, "")); err == nil || !strings.Contains(err.Error(), "authn.identity_secret") {
		t.Errorf("config with the Secret's placeholder identity secret: %v, want it refused (authn.identity_secret)", err)
	}
	_, err := config.Parse(shipped, gatewayEnviron(t, m, c, testIdentitySecret))
	if err == nil || !strings.Contains(err.Error(), "listen.trusted_proxies[0]: \""+config.TrustedProxiesPlaceholder+"\" is a placeholder") {
		t.Errorf("config with the trusted-proxies placeholder: %v, want it refused naming listen.trusted_proxies[0]", err)
	}
	// An overlay may set the range on the Deployment instead; the variable overrides the file.
	if _, err := config.Parse(shipped, append(gatewayEnviron(t, m, c, testIdentitySecret), "ARCHWAY_LISTEN_TRUSTED_PROXIES="+testTrustedProxy)); err != nil {
		t.Errorf("config with ARCHWAY_LISTEN_TRUSTED_PROXIES set: %v", err)
	}
	cfg, err := config.Parse(data, gatewayEnviron(t, m, c, testIdentitySecret))
	if err != nil {
		t.Fatalf("config with a real identity secret and trusted proxies: %v", err)
	}
	// Nothing but the placeholder is trusted: the shipped manifests cannot know the load
	// balancer's range, and a private range as broad as the pod network lets every pod pose
	// as any client.
	if !slices.Equal(cfg.Listen.TrustedProxies, []string{testTrustedProxy}) {
		t.Errorf("listen.trusted_proxies %q once the placeholder is replaced, want only %q: ship no other range", cfg.Listen.TrustedProxies, testTrustedProxy)
	}
	// archway serve starts with it: the only unsafe setting is the admin listener off
	// loopback, which the probes need and archway-networkpolicy.yaml guards
	// (TestNetworkPolicies).
	allowed, err := cfg.CheckSafety()
	if err != nil {
		t.Errorf("archway serve would refuse the config: %v", err)
	}
	if len(allowed) != 1 || allowed[0].Key != "admin.address" {
		t.Errorf("unsafe settings allowed %v, want admin.address only", allowed)
	}
	if cfg.Admin.Pprof {
		t.Error("admin.pprof is on: profiles are for debugging, not for every replica")
	}
	if cfg.RateLimit.Store != "redis" || cfg.Cache.Store != "redis" || cfg.Redis.Address == "" {
		t.Errorf("rate_limit.store %q, cache.store %q, redis.address %q: replicas must share state in Redis", cfg.RateLimit.Store, cfg.Cache.Store, cfg.Redis.Address)
	}
	if cfg.Listen.TLS.CertFile != "" {
		t.Error("listen.tls is set: the probes would need scheme HTTPS")
	}
	if addrPort(t, "listen.address", cfg.Listen.Address) != namedPort(t, c, "http") {
		t.Errorf("listen.address %q does not match containerPort http %d", cfg.Listen.Address, namedPort(t, c, "http"))
	}
	if !cfg.Admin.Enabled {
		t.Fatal("admin.enabled is false: the probes and metrics need the admin listener")
	}
	if addrPort(t, "admin.address", cfg.Admin.Address) != namedPort(t, c, "admin") {
		t.Errorf("admin.address %q does not match containerPort admin %d", cfg.Admin.Address, namedPort(t, c, "admin"))
	}
	if host, _, _ := net.SplitHostPort(cfg.Admin.Address); host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("admin.address %q: the kubelet probes the pod IP, so it must listen on every interface", cfg.Admin.Address)
	}

	// Shutdown: the pod is killed only after readiness has turned and in-flight requests drained.
	readiness := c.ReadinessProbe
	if min := readiness.PeriodSeconds * readiness.FailureThreshold; cfg.Shutdown.ReadyDelay.D().Seconds() < float64(min) {
		t.Errorf("shutdown.ready_delay %v is shorter than readiness periodSeconds*failureThreshold = %ds", cfg.Shutdown.ReadyDelay.D(), min)
	}
	grace := int64(30) // Kubernetes' default
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if need := (cfg.Shutdown.ReadyDelay.D() + cfg.Shutdown.DrainTimeout.D()).Seconds(); float64(grace) <= need {
		t.Errorf("terminationGracePeriodSeconds %d, want more than shutdown.ready_delay + drain_timeout = %vs", grace, need)
	}
	if float64(readiness.TimeoutSeconds) <= cfg.Readiness.CheckTimeout.D().Seconds() {
		t.Errorf("readiness timeoutSeconds %d, want more than readiness.check_timeout %v", readiness.TimeoutSeconds, cfg.Readiness.CheckTimeout.D())
	}
}

// TestGatewayProbesHitRealEndpoints builds a gateway from the ConfigMap's archway.yaml (with
// in-memory stores and unreachable loopback backends, so that nothing leaves the machine) and
// sends each probe's request to the handler of the listener its port names.
func TestGatewayProbesHitRealEndpoints(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, c := gatewayPod(t, m)
	environ := gatewayEnviron(t, m, c, testIdentitySecret)
	environ = append(environ, "ARCHWAY_RATE_LIMIT_STORE=memory", "ARCHWAY_CACHE_STORE=memory")
	data := operatorConfig(t, gatewayConfig(t, m, d, c))
	cfg, err := config.Parse(data, environ)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Backends {
		environ = append(environ, "ARCHWAY_BACKENDS_"+strings.ToUpper(strings.ReplaceAll(b.Name, "-", "_"))+"_ADDRESS=passthrough:///127.0.0.1:1")
	}
	cfg, err = config.Parse(data, environ)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	handlers := map[int]http.Handler{
		addrPort(t, "listen.address", cfg.Listen.Address): gw.Handler(),
		addrPort(t, "admin.address", cfg.Admin.Address):   gw.AdminHandler(),
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
		// want lists the acceptable statuses: /readyz answers 503 here, as no backend is up.
		want []int
	}{
		{"readiness", c.ReadinessProbe, "/readyz", []int{http.StatusOK, http.StatusServiceUnavailable}},
		{"liveness", c.LivenessProbe, "/healthz", []int{http.StatusOK}},
	}
	for _, p := range probes {
		get := p.probe.HTTPGet
		if get == nil {
			t.Fatalf("%s probe is not an httpGet", p.name)
		}
		if get.Path != p.path || (get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP) {
			t.Errorf("%s probe: %s %s, want HTTP %s", p.name, get.Scheme, get.Path, p.path)
		}
		h, ok := handlers[containerPort(t, c, get.Port)]
		if !ok {
			t.Fatalf("%s probe: port %s is neither listen.address's nor admin.address's", p.name, get.Port.String())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, get.Path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		if !slices.Contains(p.want, rec.Code) {
			t.Errorf("%s probe: GET %s = %d %s, want one of %v", p.name, get.Path, rec.Code, body, p.want)
		}
	}
	// The probes of a path that is not served would fail alike: make sure this test can tell.
	// pprof is one: it is off.
	for _, p := range []string{"/livez", "/debug/pprof/"} {
		rec := httptest.NewRecorder()
		gw.AdminHandler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, p, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s on the admin handler = %d, want 404", p, rec.Code)
		}
	}
}

// TestGatewayWorkloadObjects checks the Service, the PodDisruptionBudget and the autoscaler
// point at the gateway's pods and ports.
func TestGatewayWorkloadObjects(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, c := gatewayPod(t, m)
	podLabels := labels.Set(d.Spec.Template.Labels)

	svc := get[*corev1.Service](t, m, "Service", gatewayName)
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selector %v does not select the gateway's pods %v", svc.Name, svc.Spec.Selector, podLabels)
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("Service %s is headless: the gateway's replicas are balanced by the Service", svc.Name)
	}
	if len(svc.Spec.Ports) != 1 || containerPort(t, c, svc.Spec.Ports[0].TargetPort) != namedPort(t, c, "http") {
		t.Errorf("Service %s ports %+v, want one, to the API's containerPort", svc.Name, svc.Spec.Ports)
	}

	pdb := get[*policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", gatewayName)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the gateway's pods: %v", pdb.Spec.Selector, err)
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}

	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler", gatewayName)
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HorizontalPodAutoscaler scales %+v, want the Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler replicas %v..%d, want at least 2, max >= min", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment %s sets replicas: the autoscaler owns it, and each apply would reset it", d.Name)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Error("the autoscaler scales on CPU utilization, which needs a CPU request")
	}
}

// flagValue returns the value of -name=value or -name value in args, and whether it is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

var clusterTarget = regexp.MustCompile(`^dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:([0-9]+)$`)

// checkTarget checks that a dns:/// target names a headless Service of the manifests, on a port
// that both the Service and the pods behind it use, and returns the storefront service behind it.
func checkTarget(t *testing.T, m *manifests, key, target string) string {
	t.Helper()
	match := clusterTarget.FindStringSubmatch(target)
	if match == nil {
		t.Errorf("%s %q: want dns:///<service>.<namespace>.svc.cluster.local:<port>", key, target)
		return ""
	}
	name, ns, port := match[1], match[2], match[3]
	if ns != namespace {
		t.Errorf("%s %q: namespace %q, the manifests' is %q", key, target, ns, namespace)
	}
	svc := get[*corev1.Service](t, m, "Service", name)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None: the gateway balances over the pods' own addresses", name, svc.Spec.ClusterIP)
	}
	var pods []*appsv1.Deployment
	for _, d := range all[*appsv1.Deployment](m, "Deployment") {
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			pods = append(pods, d)
		}
	}
	if len(svc.Spec.Selector) == 0 || len(pods) != 1 {
		t.Fatalf("Service %s selects %d Deployments, want 1", name, len(pods))
	}
	c := pods[0].Spec.Template.Spec.Containers[0]
	var found bool
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) == port {
			found = true
			if got := containerPort(t, c, sp.TargetPort); strconv.Itoa(got) != port {
				t.Errorf("Service %s port %d goes to containerPort %d: a headless Service does not translate ports, so they must be equal", name, sp.Port, got)
			}
		}
	}
	if !found {
		t.Errorf("%s %q: Service %s has no port %s", key, target, name, port)
	}
	served, ok := flagValue(c.Args, "services")
	if !ok {
		t.Errorf("Deployment %s: no -services flag", pods[0].Name)
	}
	if addr, ok := flagValue(c.Args, served+"-addr"); !ok || strconv.Itoa(addrPort(t, served+"-addr", addr)) != port {
		t.Errorf("Deployment %s: -%s-addr %q, want port %s", pods[0].Name, served, addr, port)
	}
	if p := c.ReadinessProbe; p == nil || p.GRPC == nil || strconv.Itoa(int(p.GRPC.Port)) != port {
		t.Errorf("Deployment %s: want a gRPC readiness probe on port %s", pods[0].Name, port)
	}
	return served
}

// TestBackendsAreHeadlessServices checks every backend of archway.yaml, and every dns:/// target
// a backend's flags name, against the headless Services and the storefront Deployments.
func TestBackendsAreHeadlessServices(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, c := gatewayPod(t, m)
	cfg, err := config.Parse(operatorConfig(t, gatewayConfig(t, m, d, c)), gatewayEnviron(t, m, c, testIdentitySecret))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Backends) == 0 {
		t.Fatal("archway.yaml has no backends")
	}
	servedBy := map[string]string{}
	for _, b := range cfg.Backends {
		served := checkTarget(t, m, "backends["+b.Name+"].address", b.Address)
		servedBy[b.Name] = served
		if served != b.Name {
			t.Errorf("backend %s is served by the storefront's %q", b.Name, served)
		}
		if !b.HealthCheck.Enabled {
			t.Errorf("backend %s: health_check is off: instances would get calls when not SERVING", b.Name)
		}
	}
	for _, sd := range all[*appsv1.Deployment](m, "Deployment") {
		if sd.Name == gatewayName {
			continue
		}
		sc := sd.Spec.Template.Spec.Containers[0]
		if _, ok := servedBy[sd.Name]; !ok {
			t.Errorf("Deployment %s is no backend of archway.yaml", sd.Name)
		}
		for _, a := range sc.Args {
			if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(v, "dns:") {
				checkTarget(t, m, "Deployment "+sd.Name+" "+a, v)
			}
		}
		if env := envNames(sc); !slices.Contains(env, "STOREFRONT_IDENTITY_SECRET") {
			t.Errorf("Deployment %s: no STOREFRONT_IDENTITY_SECRET, so it would refuse to start", sd.Name)
		}
	}
	if got := slices.Sorted(maps.Keys(servedBy)); len(got) != 3 {
		t.Errorf("backends %v, want users, orders and catalog", got)
	}
}

func envNames(c corev1.Container) []string {
	names := make([]string, len(c.Env))
	for i, e := range c.Env {
		names[i] = e.Name
	}
	return names
}

// policiesFor returns the NetworkPolicies that restrict the ingress of pods labelled podLabels:
// a pod selected by any of them gets only what their ingress rules together admit.
func policiesFor(t *testing.T, m *manifests, podLabels labels.Set) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, np := range all[*networkingv1.NetworkPolicy](m, "NetworkPolicy") {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
		}
		// A policy without policyTypes restricts ingress; one that lists them, only if
		// Ingress is among them.
		ingress := len(np.Spec.PolicyTypes) == 0 || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		if ingress && sel.Matches(podLabels) {
			out = append(out, np)
		}
	}
	return out
}

// admitsPort reports whether a rule's ports let TCP traffic to port of container c in. A rule
// without ports, or a port without a number, admits every port.
func admitsPort(t *testing.T, c corev1.Container, ports []networkingv1.NetworkPolicyPort, port int) bool {
	t.Helper()
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if p.Port == nil {
			return true
		}
		first := p.Port.IntValue()
		if p.Port.Type == intstr.String {
			first = containerPort(t, c, *p.Port)
		}
		last := first
		if p.EndPort != nil {
			last = int(*p.EndPort)
		}
		if first <= port && port <= last {
			return true
		}
	}
	return false
}

// nonEmpty reports whether a label selector is set and selects less than everything.
func nonEmpty(s *metav1.LabelSelector) bool {
	return s != nil && (len(s.MatchLabels) > 0 || len(s.MatchExpressions) > 0)
}

// TestNetworkPolicies checks that the admin port, with /statusz and /metrics on every
// interface (the probes need it), is open only to labelled pods of a named namespace, that
// the API port stays open, and that the backends take calls only from the gateway's and the
// storefront's own pods.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, c := gatewayPod(t, m)
	admin, api := namedPort(t, c, "admin"), namedPort(t, c, "http")
	policies := policiesFor(t, m, labels.Set(d.Spec.Template.Labels))
	if len(policies) == 0 {
		t.Fatalf("no NetworkPolicy restricts ingress to the gateway's pods: every pod in the cluster reaches the admin port %d", admin)
	}
	var adminOpen, apiOpen bool
	for _, np := range policies {
		for i, rule := range np.Spec.Ingress {
			apiOpen = apiOpen || admitsPort(t, c, rule.Ports, api)
			if !admitsPort(t, c, rule.Ports, admin) {
				continue
			}
			adminOpen = true
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s ingress[%d] admits the admin port %d from anywhere", np.Name, i, admin)
			}
			for j, peer := range rule.From {
				if peer.IPBlock != nil || !nonEmpty(peer.NamespaceSelector) || !nonEmpty(peer.PodSelector) {
					t.Errorf("NetworkPolicy %s ingress[%d].from[%d] %+v admits the admin port %d: want only labelled pods of a labelled namespace, no ipBlock", np.Name, i, j, peer, admin)
				}
			}
		}
	}
	if !adminOpen {
		t.Errorf("no NetworkPolicy rule admits the admin port %d: Prometheus could not scrape /metrics", admin)
	}
	if !apiOpen {
		t.Errorf("no NetworkPolicy rule admits the API port %d: the load balancer could not reach the gateway", api)
	}

	// The backends: the gateway's pods must reach them, and only the gateway's and the
	// storefront's own pods may.
	deployments := all[*appsv1.Deployment](m, "Deployment")
	for _, sd := range deployments {
		if sd.Name == gatewayName {
			continue
		}
		sc := sd.Spec.Template.Spec.Containers[0]
		port := namedPort(t, sc, "grpc")
		policies := policiesFor(t, m, labels.Set(sd.Spec.Template.Labels))
		if len(policies) == 0 {
			t.Errorf("no NetworkPolicy restricts ingress to the %s pods", sd.Name)
			continue
		}
		gatewayAdmitted := false
		for _, np := range policies {
			for i, rule := range np.Spec.Ingress {
				if !admitsPort(t, sc, rule.Ports, port) {
					continue
				}
				if len(rule.From) == 0 {
					t.Errorf("NetworkPolicy %s ingress[%d] admits %s's port %d from anywhere", np.Name, i, sd.Name, port)
					gatewayAdmitted = true
				}
				for j, peer := range rule.From {
					if peer.IPBlock != nil || peer.NamespaceSelector != nil || !nonEmpty(peer.PodSelector) {
						t.Errorf("NetworkPolicy %s ingress[%d].from[%d] %+v: want labelled pods of this namespace only", np.Name, i, j, peer)
						continue
					}
					sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if err != nil {
						t.Fatal(err)
					}
					gatewayAdmitted = gatewayAdmitted || sel.Matches(labels.Set(d.Spec.Template.Labels))
					selectsOurs := slices.ContainsFunc(deployments, func(o *appsv1.Deployment) bool {
						return sel.Matches(labels.Set(o.Spec.Template.Labels))
					})
					if !selectsOurs {
						t.Errorf("NetworkPolicy %s ingress[%d].from[%d] selects no pod of the manifests", np.Name, i, j)
					}
				}
			}
		}
		if !gatewayAdmitted {
			t.Errorf("no NetworkPolicy rule admits the gateway's pods to %s's port %d", sd.Name, port)
		}
	}
}

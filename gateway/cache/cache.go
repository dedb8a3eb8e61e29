package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/archway-gateway/archway/gateway/config"
	"github.com/archway-gateway/archway/gateway/edge"
	"github.com/archway-gateway/archway/gateway/policy"
	"github.com/archway-gateway/archway/gateway/transcode"
)

// HeaderDebug is the response header that says how the cache answered a read, when the
// configuration's debug_header is on: HIT, STALE, MISS or BYPASS.
const HeaderDebug = "X-Archway-Cache"

// Cache is the response cache edge function. Create it with [New]; it is safe for concurrent
// use. Call Close when the gateway shuts down.
type Cache struct {
	enabled       bool
	store         Store
	ownStore      *MemoryStore
	maxEntryBytes int
	noCacheMinAge time.Duration
	fetchTimeout  time.Duration
	debug         bool
	credentials   []string
	forwarded     []string
	degraded      []string
	represent     func(*http.Request) string
	logger        *slog.Logger
	metrics       *metrics
	now           func() time.Time

	// routes holds a *route for each policy seen, keyed by the *policy.Policy.
	routes sync.Map

	mu      sync.Mutex
	flights map[string]*flight
	// fetches tracks the backend calls running in their own goroutines.
	fetches sync.WaitGroup
}

// New builds the cache from cfg. Unless cfg.Enabled, its middleware caches nothing and
// invalidates nothing.
func New(cfg config.Cache, opts ...Option) (*Cache, error) {
	o := options{logger: slog.Default(), now: time.Now, credentials: []string{"Authorization"}, represent: acceptHeader}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Cache{
		enabled:       cfg.Enabled,
		store:         o.store,
		maxEntryBytes: int(cfg.MaxEntryBytes),
		noCacheMinAge: cfg.NoCacheMinAge.D(),
		fetchTimeout:  cfg.FetchTimeout.D(),
		debug:         cfg.DebugHeader,
		credentials:   canonical(o.credentials),
		forwarded:     canonical(o.forwarded),
		degraded:      canonical(o.degraded),
		represent:     o.represent,
		logger:        o.logger,
		now:           o.now,
		flights:       make(map[string]*flight),
	}
	if c.fetchTimeout <= 0 {
		return nil, fmt.Errorf("cache.New: fetch_timeout must be positive, got %s", c.fetchTimeout)
	}
	if c.store == nil {
		if cfg.Store == "redis" && cfg.Enabled {
			return nil, fmt.Errorf("cache.New: the %q store needs WithStore", cfg.Store)
		}
		ms, err := NewMemoryStore(cfg.MaxBytes, cfg.MemoryMaxResources)
		if err != nil {
			return nil, fmt.Errorf("cache.New: %w", err)
		}
		c.store, c.ownStore = ms, ms
	}
	m, err := newMetrics(o.registerer, c.store)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cache.New: %w", err)
	}
	c.metrics = m
	return c, nil
}

// Close waits for the backend calls the cache started on its own (shared misses and background
// refreshes) and stops the memory store that New made.
func (c *Cache) Close() {
	c.fetches.Wait()
	if c.ownStore != nil {
		c.ownStore.Close()
	}
}

// Middleware caches the reads, and applies the invalidations of the writes, of the routes whose
// policy asks for it, and passes every other request to next. It must run after
// routing has put the route's policy in the request context and after authentication, so that
// it sees the caller's identity; next must call the backend.
//
// Whether the cache is enabled or not, the answers of authenticated routes, and those to callers
// who authenticated, say "Cache-Control: private, no-store" unless they are cached: nothing on
// the way, nor the client, may keep them.
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := policy.FromContext(r.Context())
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		if p.Authenticated || authenticated(r) {
			// Cached answers replace it with their own (write).
			w.Header().Set("Cache-Control", noStore)
		}
		switch {
		case !c.enabled:
			next.ServeHTTP(w, r)
		case r.Method == http.MethodGet && p.Cache.TTL > 0:
			c.serveRead(w, r, p, next)
		case isWrite(r.Method) && len(p.Cache.Invalidates) > 0:
			c.serveWrite(w, r, p, next)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// noStore is the Cache-Control of the answers that no cache may keep: those of authenticated
// routes, and those to callers who authenticated, that the gateway does not cache.
const noStore = "private, no-store"

// authenticated reports whether the caller of r presented credentials that authentication
// verified.
func authenticated(r *http.Request) bool {
	s := edge.StateFrom(r.Context())
	if s == nil {
		return false
	}
	_, ok := s.Identity()
	return ok
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// route is what the cache derives once from a policy.
type route struct {
	// unary is false for streaming methods, which are never cached.
	unary bool
	// read names the resource of a read: the method's primary GET binding, without its
	// version prefix. readOK is false when there is none, and the request path names the
	// resource.
	read   template
	readOK bool
	// primary caches, by matched route pattern, whether the pattern is the primary binding
	// (up to its version prefix), whose path names the resource without the path parameters.
	primaryMu sync.RWMutex
	primary   map[string]bool
	// writes are the parsed invalidation patterns; bad names those that cannot be parsed.
	writes []template
	bad    []string
	// cacheControl and notFoundCacheControl are the Cache-Control values of cached answers.
	cacheControl, notFoundCacheControl string
	vary                               string
	// keyHeaders are the request headers that join the key: the policy's vary headers and the
	// headers forwarded to the backend, in both of the forms that reach it.
	keyHeaders []string
}

func (c *Cache) route(p *policy.Policy) *route {
	if rt, ok := c.routes.Load(p); ok {
		return rt.(*route)
	}
	rt := &route{unary: true, primary: make(map[string]bool)}
	if md := p.Descriptor; md != nil {
		rt.unary = !md.IsStreamingClient() && !md.IsStreamingServer()
		if get := transcode.Rule(md).GetGet(); get != "" {
			if full, ok := parseTemplate(get, false); ok && full.hasPrefix() {
				rt.read, rt.readOK = parseTemplate(get, true)
			}
		}
	}
	for _, pat := range p.Cache.Invalidates {
		if t, ok := parseTemplate(pat, false); ok {
			rt.writes = append(rt.writes, t)
		} else {
			rt.bad = append(rt.bad, pat)
		}
	}
	scope := "private"
	if !p.Authenticated {
		scope = "public"
	}
	rt.cacheControl = fmt.Sprintf("%s, max-age=%d", scope, seconds(p.Cache.TTL))
	if p.Cache.StaleWhileRevalidate > 0 {
		rt.cacheControl += fmt.Sprintf(", stale-while-revalidate=%d", seconds(p.Cache.StaleWhileRevalidate))
	}
	rt.notFoundCacheControl = fmt.Sprintf("%s, max-age=%d", scope, seconds(p.Cache.NotFoundTTL))
	rt.keyHeaders = c.keyHeaders(p)
	vary := append([]string{"Accept"}, rt.keyHeaders...)
	if p.Authenticated && !p.Cache.Shared {
		vary = append(vary, c.credentials...)
	}
	rt.vary = strings.Join(vary, ", ")
	actual, _ := c.routes.LoadOrStore(p, rt)
	return actual.(*route)
}

// keyHeaders returns the request headers that a cached read of p is keyed and varies on: the
// policy's vary headers, then each forwarded header and its Grpc-Metadata- form, which the
// gateway forwards too. A backend's answer may depend on any header it receives, so one caller's
// answer (one tenant's, say) must never be served to a caller who sent another value.
func (c *Cache) keyHeaders(p *policy.Policy) []string {
	names := slices.Clone(p.Cache.VaryHeaders)
	for _, h := range c.forwarded {
		for _, name := range []string{h, runtime.MetadataHeaderPrefix + h} {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// LogKeys logs, once per cached method of table, what its cache key is made of besides the path
// and query: the representation, the caller (unless the route is public or shared), and the
// request headers, naming those that are forwarded to the backend. It logs nothing when the
// cache is off.
func (c *Cache) LogKeys(table *policy.Table) {
	if !c.enabled {
		return
	}
	for _, m := range table.Methods() {
		p, _ := table.Lookup(m)
		if p.Cache.TTL <= 0 {
			continue
		}
		rt := c.route(p)
		if !rt.unary {
			continue
		}
		var forwarded []string
		for _, h := range rt.keyHeaders {
			if slices.Contains(c.forwarded, strings.TrimPrefix(h, runtime.MetadataHeaderPrefix)) {
				forwarded = append(forwarded, h)
			}
		}
		c.logger.Info("cached route",
			slog.String("method", m),
			slog.Bool("per_caller", p.Authenticated && !p.Cache.Shared),
			slog.String("vary_headers", strings.Join(p.Cache.VaryHeaders, ", ")),
			slog.String("forwarded_headers_in_key", strings.Join(forwarded, ", ")))
	}
}

// canonical returns the canonical forms of header names.
func canonical(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = http.CanonicalHeaderKey(n)
	}
	return out
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// resource returns the resource name a read of rt at r names: its primary binding's, so that
// every binding of a method shares the invalidations of the primary one.
func (rt *route) resource(r *http.Request) string {
	if !rt.readOK {
		return pathResource(r.URL.Path)
	}
	if s := edge.StateFrom(r.Context()); s != nil && rt.isPrimary(s.Route()) {
		return pathResource(r.URL.Path)
	}
	if name, ok := rt.read.render(pathParams(r)); ok {
		return name
	}
	return pathResource(r.URL.Path)
}

// isPrimary reports whether the route pattern is the primary binding, but for its version
// prefix.
func (rt *route) isPrimary(pattern string) bool {
	if pattern == "" {
		return false
	}
	rt.primaryMu.RLock()
	is, ok := rt.primary[pattern]
	rt.primaryMu.RUnlock()
	if ok {
		return is
	}
	t, ok := parseTemplate(pattern, false)
	is = ok && t.hasPrefix() && slices.Equal(t.parts[1:], rt.read.parts)
	rt.primaryMu.Lock()
	rt.primary[pattern] = is
	rt.primaryMu.Unlock()
	return is
}

// acceptHeader is the representation of a read when [WithRepresentation] does not say: the
// client's Accept header, as it is.
func acceptHeader(r *http.Request) string { return r.Header.Get("Accept") }

// key is the cache key of a read: what the response depends on. representation names the
// representation the read is answered in.
func key(r *http.Request, p *policy.Policy, rt *route, representation string) string {
	var b strings.Builder
	b.Grow(len(r.URL.Path) + len(r.URL.RawQuery) + 64)
	b.WriteString(r.URL.Path)
	b.WriteByte(0)
	b.WriteString(r.URL.RawQuery)
	b.WriteByte(0)
	b.WriteString(representation)
	if p.Authenticated && !p.Cache.Shared {
		b.WriteString("\x00id\x00")
		if s := edge.StateFrom(r.Context()); s != nil {
			if id, ok := s.Identity(); ok {
				b.WriteString(id.Key())
				b.WriteByte(0)
				b.WriteString(id.ClientID)
			}
		}
	}
	for _, h := range rt.keyHeaders {
		b.WriteByte(0)
		b.WriteString(h)
		b.WriteByte(0)
		b.WriteString(strings.Join(r.Header.Values(h), ","))
	}
	return b.String()
}

// serveRead answers a GET of a cached route.
func (c *Cache) serveRead(w http.ResponseWriter, r *http.Request, p *policy.Policy, next http.Handler) {
	rt := c.route(p)
	if !rt.unary {
		next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	k := key(r, p, rt, c.represent(r))
	tags := readTags(rt.resource(r))
	e, gens, err := c.store.Lookup(ctx, k, tags)
	if err != nil {
		if ctx.Err() != nil {
			edge.WriteStatus(w, 0, status.FromContextError(ctx.Err()))
			return
		}
		c.metrics.storeErrors.Inc()
		c.logger.WarnContext(ctx, "cache store lookup failed; serving uncached", slog.Any("error", err))
		if c.debug {
			w.Header().Set(HeaderDebug, "BYPASS")
		}
		next.ServeHTTP(w, r)
		return
	}
	now := c.now()
	if e != nil && !slices.Equal(e.Generations, gens) {
		e = nil
	}
	if e != nil {
		age := now.Sub(e.Stored)
		switch {
		case age >= e.keep():
		case age >= c.noCacheMinAge && noCache(r.Header):
		case age < e.TTL:
			c.metrics.hits.Inc()
			c.write(w, r, rt, e, now, "HIT")
			return
		default:
			c.metrics.stale.Inc()
			if f, leader := c.join(k); leader {
				c.metrics.misses.Inc()
				c.fetch(k, f, r, p, gens, next)
			}
			c.write(w, r, rt, e, now, "STALE")
			return
		}
	}
	f, leader := c.join(k)
	if leader {
		c.metrics.misses.Inc()
		c.fetch(k, f, r, p, gens, next)
	} else {
		c.metrics.coalesced.Inc()
	}
	// The shared call runs under the route's timeout; this request waits for it until its own
	// deadline, the client's Grpc-Timeout included, which grpc-gateway would otherwise apply only
	// to the call.
	if v := r.Header.Get(edge.HeaderGRPCTimeout); v != "" {
		if d, err := edge.ParseGRPCTimeout(v); err == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		edge.WriteStatus(w, 0, status.FromContextError(ctx.Err()))
		return
	}
	c.write(w, r, rt, f.res, c.now(), "MISS")
}

// flight is one backend call that the requests for one key share.
type flight struct {
	done chan struct{}
	// res is the answer, set before done is closed: an entry to save when its TTL is positive,
	// else an answer to pass on to the requests that waited for it.
	res *Entry
}

// join returns the flight of key, and whether the caller leads it: starts a new one.
func (c *Cache) join(key string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

// fetch calls the backend for f in a goroutine of its own, saves the answer when it is
// cacheable, and ends the flight. The call is shared, so it is detached from the cancellation and
// the deadline of r, whose client may have asked for a short one (the requests waiting for it
// each give up at their own deadline): it runs under the route's timeout and the fetch timeout,
// and without r's Grpc-Timeout header, which grpc-gateway would apply to it.
func (c *Cache) fetch(key string, f *flight, r *http.Request, p *policy.Policy, gens []uint64, next http.Handler) {
	timeout := c.fetchTimeout
	if p.Timeout > 0 {
		timeout = min(timeout, p.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
	req := r.Clone(ctx)
	req.Header.Del(edge.HeaderGRPCTimeout)
	// Nor its TE: trailers. The answer is stored and served to callers who did not ask for
	// trailers, and a stored trailer would outlive the call it belonged to.
	req.Header.Del("Te")
	c.fetches.Add(1)
	go func() {
		defer c.fetches.Done()
		defer cancel()
		rec := &recorder{header: make(http.Header)}
		res := &Entry{Status: http.StatusInternalServerError}
		defer func() {
			if v := recover(); v != nil {
				c.logger.ErrorContext(ctx, "panic in a cached backend call", slog.Any("panic", v))
				res = internalError(ctx)
			}
			c.mu.Lock()
			delete(c.flights, key)
			c.mu.Unlock()
			f.res = res
			close(f.done)
		}()
		next.ServeHTTP(rec, req)
		res = c.entry(rec, p, gens)
		if res.TTL > 0 {
			if err := c.store.Save(ctx, key, res); err != nil {
				c.metrics.storeErrors.Inc()
				c.logger.WarnContext(ctx, "cache store save failed", slog.Any("error", err))
			}
		}
	}()
}

// internalError is the answer of a backend call that panicked.
func internalError(ctx context.Context) *Entry {
	rec := &recorder{header: make(http.Header)}
	edge.WriteStatus(rec, 0, edge.InternalError(edge.RequestIDFrom(ctx)))
	return &Entry{Status: rec.code(), Header: rec.header, Body: rec.body.Bytes()}
}

// entry turns a recorded answer into an entry: cacheable (positive TTL) when it succeeded, or is
// a NOT_FOUND the policy caches, is not degraded, and its body is not too large.
func (c *Cache) entry(rec *recorder, p *policy.Policy, gens []uint64) *Entry {
	e := &Entry{Status: rec.code(), Header: rec.header, Body: rec.body.Bytes(), Generations: gens, Stored: c.now()}
	if len(e.Body) > c.maxEntryBytes {
		return e
	}
	for _, h := range c.degraded {
		if _, ok := e.Header[h]; ok {
			return e
		}
	}
	switch e.Status {
	case http.StatusOK:
		e.TTL, e.Stale = p.Cache.TTL, p.Cache.StaleWhileRevalidate
		e.ETag = etag(e.Body)
	case http.StatusNotFound:
		e.TTL = p.Cache.NotFoundTTL
	}
	return e
}

// etag is a strong entity tag of body: 128 bits of its SHA-256.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// write answers r with e, a cached answer when its TTL is positive.
func (c *Cache) write(w http.ResponseWriter, r *http.Request, rt *route, e *Entry, now time.Time, how string) {
	h := w.Header()
	for k, v := range e.Header {
		// A copy: the links before the cache may append to the values, and e is shared.
		h[k] = slices.Clone(v)
	}
	if c.debug {
		h.Set(HeaderDebug, how)
	}
	if e.TTL <= 0 {
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body)
		return
	}
	age := max(now.Sub(e.Stored), 0)
	h.Set("Age", strconv.FormatInt(seconds(age), 10))
	h.Add("Vary", rt.vary)
	if s := edge.StateFrom(r.Context()); s != nil && e.Status == http.StatusNotFound {
		s.SetGRPCCode(codes.NotFound)
	} else if s != nil {
		s.SetGRPCCode(codes.OK)
	}
	if e.Status == http.StatusNotFound {
		h.Set("Cache-Control", rt.notFoundCacheControl)
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body)
		return
	}
	h.Set("Cache-Control", rt.cacheControl)
	h.Set("ETag", e.ETag)
	if etagMatches(r.Header.Get("If-None-Match"), e.ETag) {
		h.Del("Content-Type")
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}

// etagMatches is the weak comparison of If-None-Match (RFC 9110, 13.1.2) against a strong tag.
func etagMatches(ifNoneMatch, tag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	for candidate := range strings.SplitSeq(ifNoneMatch, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == tag {
			return true
		}
	}
	return false
}

// noCache reports whether the client asks for revalidation: Cache-Control no-cache or
// max-age=0, or, without Cache-Control, Pragma: no-cache.
func noCache(h http.Header) bool {
	cc := h.Values("Cache-Control")
	if len(cc) == 0 {
		return strings.EqualFold(strings.TrimSpace(h.Get("Pragma")), "no-cache")
	}
	for _, v := range cc {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-cache" || d == "max-age=0" {
				return true
			}
		}
	}
	return false
}

// recorder keeps an answer in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// serveWrite passes a write to next and, once it has succeeded and before its answer reaches the
// client, invalidates the resources its policy names.
func (c *Cache) serveWrite(w http.ResponseWriter, r *http.Request, p *policy.Policy, next http.Handler) {
	iw := &invalidatingWriter{ResponseWriter: w, invalidate: func() { c.invalidate(r, p) }}
	next.ServeHTTP(iw, r)
	iw.WriteHeader(http.StatusOK)
}

// invalidate invalidates the resources that the write r names.
func (c *Cache) invalidate(r *http.Request, p *policy.Policy) {
	ctx := r.Context()
	rt := c.route(p)
	for _, pat := range rt.bad {
		c.logger.WarnContext(ctx, "cache invalidation pattern cannot be resolved", slog.String("method", p.Method), slog.String("pattern", pat))
	}
	params := pathParams(r)
	var tags []string
	for i, t := range rt.writes {
		name, ok := t.render(params)
		if !ok {
			c.logger.WarnContext(ctx, "cache invalidation pattern names a parameter the route does not have",
				slog.String("method", p.Method), slog.String("pattern", p.Cache.Invalidates[i]))
			continue
		}
		tags = writeTags(tags, name)
		c.metrics.invalidations.Inc()
	}
	if len(tags) == 0 {
		return
	}
	if err := c.store.Invalidate(context.WithoutCancel(ctx), tags); err != nil {
		c.metrics.storeErrors.Inc()
		c.logger.ErrorContext(ctx, "cache invalidation failed: cached reads of the written resources may be stale until they expire",
			slog.String("method", p.Method), slog.Any("error", err))
	}
}

// invalidatingWriter runs invalidate when a successful answer's status is written, before
// passing it on.
type invalidatingWriter struct {
	http.ResponseWriter
	invalidate func()
	wrote      bool
}

func (w *invalidatingWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code >= 200 && code < 300 {
		w.invalidate()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *invalidatingWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *invalidatingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

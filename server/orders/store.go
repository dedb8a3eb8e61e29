package orders

import (
	"sync"

	"google.golang.org/protobuf/proto"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

// maxChanges is how many times an order can change after it was placed: PENDING to PAID to
// SHIPPED to DELIVERED, or a cancellation on the way. A subscriber channel of this capacity holds
// every change of its order, so a slow subscriber misses nothing.
const maxChanges = 3

// store holds the orders and the subscribers that watch them. It is safe for concurrent use.
type store struct {
	mu       sync.RWMutex
	orders   map[string]*ordersv1.Order                   // owned by the store: replaced on change, never changed in place
	watchers map[string]map[chan *ordersv1.Order]struct{} // by order name
	next     int                                          // number of the next order created
}

func newStore(seed []*ordersv1.Order) *store {
	s := &store{
		orders:   make(map[string]*ordersv1.Order, len(seed)),
		watchers: make(map[string]map[chan *ordersv1.Order]struct{}),
		next:     firstSeedOrder + len(seed),
	}
	for _, o := range seed {
		s.orders[o.GetName()] = o
	}
	return s
}

// get returns a copy of the order called name.
func (s *store) get(name string) (*ordersv1.Order, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.orders[name]
	if !ok {
		return nil, false
	}
	return proto.CloneOf(o), true
}

// all returns every order, shared with the store: callers must not change them.
func (s *store) all() []*ordersv1.Order {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*ordersv1.Order, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, o)
	}
	return out
}

// create stores o under the next free order number, which it sets as o's name, and returns a
// copy. The store keeps o.
func (s *store) create(o *ordersv1.Order) *ordersv1.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.Name = orderName(s.next)
	s.next++
	s.orders[o.GetName()] = o
	return proto.CloneOf(o)
}

// update applies change to a copy of the order called name and, when change returns nil,
// stores the copy, notifies the order's watchers and returns another copy. It returns
// errNotFound for an unknown order, and change's error unchanged.
func (s *store) update(name string, change func(*ordersv1.Order) error) (*ordersv1.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.orders[name]
	if !ok {
		return nil, errNotFound
	}
	o := proto.CloneOf(old)
	if err := change(o); err != nil {
		return nil, err
	}
	s.orders[name] = o
	for ch := range s.watchers[name] {
		notify(ch, o)
	}
	return proto.CloneOf(o), nil
}

// notify sends o to ch without blocking. Should ch ever be full, it drops the oldest change so
// that the latest state, the one that ends a watch, always arrives. Only holders of s.mu send, so
// after one receive there is room.
func notify(ch chan *ordersv1.Order, o *ordersv1.Order) {
	select {
	case ch <- o:
	default:
		select {
		case <-ch:
		default:
		}
		ch <- o
	}
}

// watch returns a copy of the order called name as it is now, and a channel that receives the
// order after each later change, read-only. The caller must call cancel when done.
func (s *store) watch(name string) (current *ordersv1.Order, changes <-chan *ordersv1.Order, cancel func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[name]
	if !ok {
		return nil, nil, nil, errNotFound
	}
	ch := make(chan *ordersv1.Order, maxChanges)
	if s.watchers[name] == nil {
		s.watchers[name] = make(map[chan *ordersv1.Order]struct{})
	}
	s.watchers[name][ch] = struct{}{}
	cancel = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers[name], ch)
		if len(s.watchers[name]) == 0 {
			delete(s.watchers, name)
		}
	}
	return proto.CloneOf(o), ch, cancel, nil
}

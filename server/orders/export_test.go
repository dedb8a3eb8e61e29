package orders

// Watchers returns the number of open WatchOrder subscriptions, so that tests can see them end.
func (s *Service) Watchers() int {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	n := 0
	for _, set := range s.store.watchers {
		n += len(set)
	}
	return n
}

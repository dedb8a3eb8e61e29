package identity

// ReplayCacheLen returns how many nonces s remembers.
func (s *Signer) ReplayCacheLen() int {
	n := 0
	for i := range s.seen.shards {
		sh := &s.seen.shards[i]
		sh.mu.Lock()
		n += len(sh.seen)
		sh.mu.Unlock()
	}
	return n
}

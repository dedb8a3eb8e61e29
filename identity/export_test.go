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

// SetNonces makes the nonces of the envelopes s signs from now on prefix, then the count of
// envelopes signed since, from 1, in base 36: the nonces of Sign's test vectors.
func SetNonces(s *Signer, prefix string) {
	s.noncePrefix = prefix
	s.nonces.Store(0)
}

package bench

import (
	"net"
	"sync"
)

// connSet is what a rig (the bench relays, the delaying proxies) keeps to
// stop: its listeners and open connections, to close them all, and its
// goroutines, to wait for them.
type connSet struct {
	ls     []net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// close closes every listener and connection and waits for the goroutines.
func (s *connSet) close() {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.ls {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// track registers c for closing; it reports false (and closes c) once the
// set is closing.
func (s *connSet) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (s *connSet) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

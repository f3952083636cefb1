package postfixtest

import (
	"sync"
	"testing"
	"time"
)

// Traffic hands a Relay one message per interval in the background, as
// mail flows through a real relay while its certificate is renewed. Stop it
// to learn what became of every message.
type Traffic struct {
	r         *Relay
	from, to  string
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	ids       []string
	errs      []error
	stopOnce  sync.Once
	collected []Outcome
}

// StartTraffic starts handing the relay a message from from to rcpt every
// interval (the first one now), until Stop; tb.Cleanup stops it too.
func (r *Relay) StartTraffic(tb testing.TB, from, rcpt string, interval time.Duration) *Traffic {
	tb.Helper()
	tr := &Traffic{r: r, from: from, to: rcpt, stop: make(chan struct{}), done: make(chan struct{})}
	go tr.loop(interval)
	tb.Cleanup(tr.halt)
	return tr
}

func (tr *Traffic) loop(interval time.Duration) {
	defer close(tr.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		id, err := tr.r.Submit(tr.from, tr.to)
		tr.mu.Lock()
		if err != nil {
			tr.errs = append(tr.errs, err)
		} else {
			tr.ids = append(tr.ids, id)
		}
		tr.mu.Unlock()
		select {
		case <-tr.stop:
			return
		case <-tick.C:
		}
	}
}

func (tr *Traffic) halt() {
	tr.stopOnce.Do(func() { close(tr.stop) })
	<-tr.done
}

// Sent returns the queue ids of the messages handed over so far.
func (tr *Traffic) Sent() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.ids...)
}

// Stop stops the traffic and returns the first delivery attempt of every
// message it handed over, in order, waiting for each as Relay.Wait does. It
// fails tb if a message could not be handed over. Calling it again returns
// the same outcomes.
func (tr *Traffic) Stop(tb testing.TB) []Outcome {
	tb.Helper()
	tr.halt()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, err := range tr.errs {
		tb.Errorf("postfixtest: traffic: %v", err)
	}
	tr.errs = nil
	for _, id := range tr.ids[len(tr.collected):] {
		tr.collected = append(tr.collected, tr.r.Wait(tb, id))
	}
	return append([]Outcome(nil), tr.collected...)
}

// CountDeferred counts the outcomes that left their message queued.
func CountDeferred(outcomes []Outcome) int {
	n := 0
	for _, o := range outcomes {
		if o.Deferred() {
			n++
		}
	}
	return n
}

package controller

import "time"

// workers runs functions on at most n goroutines that stay for the next
// one. Handling an event grows a goroutine's stack to tens of KiB (JSON,
// Rego, the HTTP client); a fresh goroutine per event paid that growth, a
// few percent of the controller's CPU, every time.
type workers struct {
	jobs  chan func()   // unbuffered: taken only by an idle worker
	slots chan struct{} // one per running worker
	idle  time.Duration // a worker without work for this long ends
	done  chan struct{} // closed by stop: idle workers end at once
}

func newWorkers(n int, idle time.Duration) *workers {
	return &workers{jobs: make(chan func()), slots: make(chan struct{}, n), idle: idle, done: make(chan struct{})}
}

// stop ends the idle workers now and the busy ones when their function
// returns.
func (w *workers) stop() { close(w.done) }

// Go runs fn on an idle worker, or on a new one while fewer than n run;
// with n busy it waits for one.
func (w *workers) Go(fn func()) {
	select {
	case w.jobs <- fn:
		return
	default:
	}
	select {
	case w.jobs <- fn:
	case w.slots <- struct{}{}:
		go w.work(fn)
	}
}

func (w *workers) work(fn func()) {
	defer func() { <-w.slots }()
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(w.idle)
		select {
		case fn = <-w.jobs:
		case <-t.C:
			return
		case <-w.done:
			return
		}
	}
}

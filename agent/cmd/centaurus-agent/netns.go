package main

import (
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// nsWorker runs functions on one OS thread that has entered the target network namespace
// (setns), so that ifindexes resolve there when programs attach. The thread stays locked
// for the process's life and is never returned to the scheduler, so no other goroutine
// (the API client's sockets) ever runs in that namespace.
type nsWorker struct {
	work chan func()
	nl   *netlink.Handle
}

func newNetns(path string) (*nsWorker, error) {
	w := &nsWorker{work: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the process
		if path != "" {
			h, err := netns.GetFromPath(path)
			if err != nil {
				ready <- err
				return
			}
			if err := netns.Set(h); err != nil {
				ready <- err
				return
			}
			h.Close()
		}
		nl, err := netlink.NewHandle()
		if err != nil {
			ready <- err
			return
		}
		w.nl = nl
		ready <- nil
		for f := range w.work {
			f()
		}
	}()
	return w, <-ready
}

// do runs f in the namespace and waits for it.
func (w *nsWorker) do(f func() error) error {
	done := make(chan error, 1)
	w.work <- func() { done <- f() }
	return <-done
}

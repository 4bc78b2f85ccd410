package guard

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// ErrShed is returned by Slots.Acquire when a verification could not be done before its deadline (or the queue is
// full): the caller answers at once instead of waiting.
var ErrShed = errors.New("guard: shed: no verification slot before the deadline")

// SlotsConfig configures Slots. Its zero value is usable.
//
// Example (YAML):
//
//	slots:
//	  max: 8        # default: the number of CPUs
//	  queue: 128    # default: 16 per slot
type SlotsConfig struct {
	// Max is the number of verifications that may run at once. Default runtime.NumCPU().
	Max int `yaml:"max" json:"max"`
	// Queue is the number of callers that may wait for a slot. Default 16 × Max; negative means none may wait.
	Queue int `yaml:"queue" json:"queue"`
	// Now is the clock used to measure verifications and judge deadlines (default time.Now). Waiting itself uses
	// real timers.
	Now func() time.Time `yaml:"-" json:"-"`
}

// Slots caps the number of concurrent hash verifications and sheds the load it cannot serve in time.
//
// Acquire takes a free slot at once, or waits in a first-come queue; it sheds (ErrShed, at once) when the queue is
// full or when the estimated wait plus one verification would end after the caller's deadline, and never waits
// past the deadline. The estimate is one mean verification time with a slot free, else ((waiting callers / Max) +
// 2) means (the held slot frees, those ahead go, then its own), the mean being a moving average of how long recent
// slots were held (zero until the first release, so nothing is shed for time before that). Safe for concurrent
// use.
type Slots struct {
	max, queue int
	now        func() time.Time
	sem        chan struct{}

	mu       sync.Mutex
	waiting  int
	mean     time.Duration
	measured bool
}

// SlotsStats is a snapshot of Slots, for metrics.
type SlotsStats struct {
	InUse   int
	Waiting int
	Mean    time.Duration
}

// Open returns Slots with c's settings, defaults filled.
func (c SlotsConfig) Open() *Slots {
	if c.Max <= 0 {
		c.Max = runtime.NumCPU()
	}
	if c.Queue == 0 {
		c.Queue = 16 * c.Max
	}
	if c.Queue < 0 {
		c.Queue = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Slots{max: c.Max, queue: c.Queue, now: c.Now, sem: make(chan struct{}, c.Max)}
}

// Acquire returns a slot, and release to call when the verification is done (once; later calls do nothing).
// deadline is when the verification must be finished; the zero time means none (only ctx and the queue bound
// the wait). Errors: ErrShed, wrapped with the reason (queue full, estimate past the deadline, deadline reached
// while waiting), or ctx's error if ctx ends first.
func (s *Slots) Acquire(ctx context.Context, deadline time.Time) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	now := s.now()
	if !deadline.IsZero() && !now.Add(s.estimate(s.waiting)).Before(deadline) {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (estimated wait and verification past the deadline)", ErrShed)
	}
	select {
	case s.sem <- struct{}{}:
		s.mu.Unlock()
		return s.releaser(now), nil
	default:
	}
	if s.waiting >= s.queue {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (queue full)", ErrShed)
	}
	s.waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()

	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(deadline.Sub(now))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case s.sem <- struct{}{}:
		return s.releaser(s.now()), nil
	case <-timeout:
		return nil, fmt.Errorf("%w (deadline reached while waiting)", ErrShed)
	case <-ctx.Done():
		return nil, fmt.Errorf("guard: waiting for a verification slot: %w", ctx.Err())
	}
}

// estimate is how long a caller behind `ahead` waiting ones should take to finish its own verification, when no
// slot is free: the slot it will take frees in about one mean, each Max callers ahead add one more, and its
// verification takes one. With a free slot the wait is zero, and it is only its own verification.
func (s *Slots) estimate(ahead int) time.Duration {
	if len(s.sem) < s.max && ahead == 0 {
		return s.mean
	}
	return time.Duration(ahead/s.max+2) * s.mean
}

func (s *Slots) releaser(start time.Time) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			d := s.now().Sub(start)
			if d < 0 {
				d = 0
			}
			s.mu.Lock()
			if !s.measured {
				s.mean, s.measured = d, true
			} else {
				s.mean += (d - s.mean) / 8
			}
			s.mu.Unlock()
			<-s.sem
		})
	}
}

// Stats returns a snapshot.
func (s *Slots) Stats() SlotsStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SlotsStats{InUse: len(s.sem), Waiting: s.waiting, Mean: s.mean}
}

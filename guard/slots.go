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
// past the deadline. When a slot is granted after a wait, the deadline is judged again: a verification that can no
// longer finish in time is not started (the slot goes to the next caller and ErrShed is returned), so no slot is
// spent on work whose result would be thrown away.
//
// Two moving averages make the estimate: how long a slot is held (any kind; it paces the queue) and, per kind of
// verification (AcquireKind's kind: an algorithm and cost such as "bcrypt$10"), how long one takes. A caller's own
// verification is estimated by its kind's mean (the overall one for a kind not measured yet; zero before the first
// release, so nothing is shed for time before that). The estimate is its own mean with a slot free, else
// ((waiting callers / Max) + 1) hold means plus its own. At most 64 kinds are remembered (later ones use the
// overall mean). Safe for concurrent use.
type Slots struct {
	max, queue int
	now        func() time.Time
	sem        chan struct{}

	mu      sync.Mutex
	waiting int
	all     mean
	kinds   map[string]*mean
}

// maxKinds bounds the kinds whose mean is kept.
const maxKinds = 64

// mean is a moving average of durations.
type mean struct {
	d        time.Duration
	measured bool
}

func (m *mean) add(d time.Duration) {
	if !m.measured {
		m.d, m.measured = d, true
		return
	}
	m.d += (d - m.d) / 8
}

// SlotsStats is a snapshot of Slots, for metrics.
type SlotsStats struct {
	InUse   int
	Waiting int
	// Mean is how long a slot has been held, on average (every kind).
	Mean time.Duration
	// Kinds is the mean duration per kind of verification measured.
	Kinds map[string]time.Duration
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
	return &Slots{max: c.Max, queue: c.Queue, now: c.Now, sem: make(chan struct{}, c.Max), kinds: make(map[string]*mean)}
}

// Acquire is AcquireKind for a verification of no particular kind (judged by the overall mean).
func (s *Slots) Acquire(ctx context.Context, deadline time.Time) (release func(), err error) {
	return s.AcquireKind(ctx, "", deadline)
}

// AcquireKind returns a slot for a verification of kind, and release to call when the verification is done
// (once; later calls do nothing). deadline is when the verification must be finished; the zero time means none
// (only ctx and the queue bound the wait). Errors: ErrShed, wrapped with the reason (queue full, estimate past the
// deadline, deadline reached while waiting, slot granted too late to finish), or ctx's error if ctx ends first.
func (s *Slots) AcquireKind(ctx context.Context, kind string, deadline time.Time) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	now := s.now()
	own := s.own(kind)
	if !deadline.IsZero() && !now.Add(s.estimate(s.waiting, own)).Before(deadline) {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w (estimated wait and verification past the deadline)", ErrShed)
	}
	select {
	case s.sem <- struct{}{}:
		s.mu.Unlock()
		return s.releaser(now, kind), nil
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
	case <-timeout:
		return nil, fmt.Errorf("%w (deadline reached while waiting)", ErrShed)
	case <-ctx.Done():
		return nil, fmt.Errorf("guard: waiting for a verification slot: %w", ctx.Err())
	}
	// The slot came: judge again with the time left, the kind's mean having perhaps changed meanwhile.
	s.mu.Lock()
	granted := s.now()
	own = s.own(kind)
	s.mu.Unlock()
	if !deadline.IsZero() && !granted.Add(own).Before(deadline) {
		<-s.sem // not measured: nothing ran
		return nil, fmt.Errorf("%w (slot granted too late to finish before the deadline)", ErrShed)
	}
	return s.releaser(granted, kind), nil
}

// own is the estimated duration of one verification of kind (s.mu held).
func (s *Slots) own(kind string) time.Duration {
	if m, ok := s.kinds[kind]; ok && kind != "" {
		return m.d
	}
	return s.all.d
}

// estimate is how long a caller behind `ahead` waiting ones should take to finish its own verification (of
// duration own). With a free slot and nobody waiting it is only its own verification; otherwise the slot it will
// take frees in about one hold mean, each Max callers ahead add one more, then its own runs.
func (s *Slots) estimate(ahead int, own time.Duration) time.Duration {
	if len(s.sem) < s.max && ahead == 0 {
		return own
	}
	return time.Duration(ahead/s.max+1)*s.all.d + own
}

func (s *Slots) releaser(start time.Time, kind string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			d := s.now().Sub(start)
			if d < 0 {
				d = 0
			}
			s.mu.Lock()
			s.all.add(d)
			if kind != "" {
				m, ok := s.kinds[kind]
				if !ok && len(s.kinds) < maxKinds {
					m = &mean{}
					s.kinds[kind] = m
				}
				if m != nil {
					m.add(d)
				}
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
	st := SlotsStats{InUse: len(s.sem), Waiting: s.waiting, Mean: s.all.d, Kinds: make(map[string]time.Duration, len(s.kinds))}
	for k, m := range s.kinds {
		st.Kinds[k] = m.d
	}
	return st
}

package guard_test

import (
	"context"
	"fmt"
	"time"

	"github.com/idshift/idshift/guard"
)

// The service's flow around one password check: Reserve before verifying (a place in each window, taken with the
// lock check), then settle the reservation: Fail after a wrong password, Succeed after a right one, Release when
// the check did not run.
func ExampleConfig_OpenMemory() {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	g, err := guard.Config{Now: func() time.Time { return now }}.OpenMemory()
	if err != nil {
		panic(err)
	}
	for i := 1; ; i++ {
		r, l, _ := g.Reserve(ctx, "alice@example.com", "192.0.2.1")
		if l.Locked {
			fmt.Printf("attempt %d: Block (%s until %s)\n", i, l.Scope, l.Until.Format(time.Kitchen))
			break
		}
		// ...the legacy check runs here, and the password is wrong...
		if l, _ := r.Fail(ctx); l.Locked {
			fmt.Printf("attempt %d: Retry (this failure locked %s)\n", i, l.Scope)
			continue
		}
		fmt.Printf("attempt %d: Retry\n", i)
	}
	// From another address, alice is not locked out.
	l, _ := g.Check(ctx, "alice@example.com", "198.51.100.7")
	fmt.Println("from another address, locked:", l.Locked)
	// Output:
	// attempt 1: Retry
	// attempt 2: Retry
	// attempt 3: Retry
	// attempt 4: Retry
	// attempt 5: Retry (this failure locked account+ip)
	// attempt 6: Block (account+ip until 12:15PM)
	// from another address, locked: false
}

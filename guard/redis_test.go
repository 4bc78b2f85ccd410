package guard_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/idshift/idshift/internal/servicetest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/guard"
)

func redisURL() string { return servicetest.RedisURL() }

var (
	redisOnce sync.Once
	redisErr  error
)

// requireRedis skips (or fails, with IDSHIFT_REQUIRE_SERVICES=1) when the server cannot be reached.
func requireRedis(t testing.TB) {
	t.Helper()
	redisOnce.Do(func() {
		opt, err := redis.ParseURL(redisURL())
		if err != nil {
			redisErr = err
			return
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		redisErr = c.Ping(ctx).Err()
	})
	if redisErr != nil {
		msg := "Redis unreachable at IDSHIFT_REDIS_URL (default " + servicetest.DefaultRedisURL + "): " + redisErr.Error()
		servicetest.Unavailable(t, msg)
	}
}

// newClient returns a client of its own (as a replica has), closed when t ends.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key prefix of t's own and deletes its keys when t ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "idshift:test:guard:" + hex.EncodeToString(b) + ":"
	c := newClient(t)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// openRedis returns n guards sharing one Redis and prefix, each with its own client: n replicas.
func openRedis(t testing.TB, cfg guard.Config, n int) []idshift.Guard {
	t.Helper()
	requireRedis(t)
	cfg.Prefix = testPrefix(t)
	gs := make([]idshift.Guard, n)
	for i := range gs {
		g, err := cfg.NewRedis(newClient(t))
		if err != nil {
			t.Fatal(err)
		}
		gs[i] = g
	}
	return gs
}

func TestRedisConformance(t *testing.T) { runConformance(t, openRedis) }

func TestRedisKeysHaveTTLsAndNoClearNames(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	c := newClock()
	cfg := testConfig(c)
	cfg.Prefix = testPrefix(t)
	client := newClient(t)
	g, err := cfg.NewRedis(client)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the third locks the pair
		if _, err := g.Fail(ctx, "alice@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client.Keys(ctx, cfg.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// account and ip counters, the pair's lock (its counter was reset by the lock)
	if len(keys) != 3 {
		t.Fatalf("keys %v, want 3", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "192.0.2.1") {
			t.Errorf("key %q holds an account or address in clear", k)
		}
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		max := time.Minute
		if strings.Contains(k, ":l:") {
			max = 2 * time.Minute
		}
		if ttl <= 0 || ttl > max {
			t.Errorf("key %q: TTL %v, want in (0, %v]", k, ttl, max)
		}
	}
	if err := g.Succeed(ctx, "alice@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRedis(t *testing.T) {
	requireRedis(t)
	ctx := context.Background()
	g, err := guard.Config{Prefix: testPrefix(t)}.OpenRedis(ctx, redisURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Fail(ctx, "alice", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Check(ctx, "alice", "192.0.2.1"); err == nil {
		t.Error("Check after Close: no error")
	}
}

func TestOpenRedisErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, url := range []string{
		"redis://:s3cretpw@127.0.0.1:1/0", // nothing listens on port 1
		"http://:s3cretpw@127.0.0.1:6379/0",
		"redis://:s3cretpw@127.0.0.1:6379/notadb",
	} {
		g, err := guard.Config{}.OpenRedis(ctx, url)
		if err == nil {
			g.Close()
			t.Errorf("OpenRedis(%q): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("OpenRedis error reveals the password: %v", err)
		}
	}
}

func BenchmarkRedis(b *testing.B) {
	requireRedis(b)
	g, err := guard.Config{Prefix: testPrefix(b)}.NewRedis(newClient(b))
	if err != nil {
		b.Fatal(err)
	}
	benchGuard(b, g)
}

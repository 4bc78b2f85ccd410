package guard

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/idshift/idshift"
)

// Redis is the guard shared by several replicas through one Redis server: the limits hold in total across every
// process using the same server and Config.Prefix.
//
// Each counter is a sorted set of failure times (an exact sliding window, not an approximation), holding at most
// its scope's Failures-1 members, with a TTL of its window; each lock is a string holding its end time, with a TTL
// of its length. Keys are Prefix + "c:" or "l:" + the scope's letter + ":" + a hex digest (no account name or
// address in clear). Fail is one Lua script (atomic: concurrent failures from any number of replicas are counted
// exactly), Check one MGET, Succeed one DEL: one round trip each. Time comes from Config.Now, passed to the script,
// so replicas' clocks should agree to within a few milliseconds (NTP does).
//
// Errors are the client's, wrapped: a Redis that cannot be reached makes Check and Fail fail, and the caller
// chooses what to answer. Safe for concurrent use.
type Redis struct {
	cfg    Config
	client redis.UniversalClient
	owned  bool
}

// OpenRedis connects to the Redis server at url (redis://[user:password@]host:port/db or rediss://…), checks that
// it answers, and returns a guard over it; Close closes the connection. The URL's password never appears in
// errors.
func (c Config) OpenRedis(ctx context.Context, url string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("guard: redis: invalid URL") // the URL may hold a password
	}
	client := redis.NewClient(opt)
	g, err := c.NewRedis(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	g.owned = true
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("guard: redis: ping %s: %w", opt.Addr, err)
	}
	return g, nil
}

// NewRedis returns a guard over an existing client, which the caller keeps and closes.
func (c Config) NewRedis(client redis.UniversalClient) (*Redis, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("guard: redis: nil client")
	}
	return &Redis{cfg: cfg, client: client}, nil
}

// Close closes the connection OpenRedis made; it does nothing for a client given to NewRedis.
func (r *Redis) Close() error {
	if r.owned {
		return r.client.Close()
	}
	return nil
}

var scopeLetters = [...]string{scopeAccount: "a", scopeIP: "i", scopePair: "p"}

func (r *Redis) counterKey(t target) string {
	return r.cfg.Prefix + "c:" + scopeLetters[t.scope] + ":" + hex.EncodeToString(t.id[:])
}

func (r *Redis) lockKey(t target) string {
	return r.cfg.Prefix + "l:" + scopeLetters[t.scope] + ":" + hex.EncodeToString(t.id[:])
}

// Check reports the lock in force for the attempt, if any, without counting anything: one MGET.
func (r *Redis) Check(ctx context.Context, account, ip string) (idshift.Lock, error) {
	ts := r.cfg.targets(account, ip)
	if len(ts) == 0 {
		return idshift.Lock{}, nil
	}
	now := millis(r.cfg.Now())
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = r.lockKey(t)
	}
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return idshift.Lock{}, fmt.Errorf("guard: redis check: %w", err)
	}
	var l idshift.Lock
	var until int64
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		u, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return idshift.Lock{}, fmt.Errorf("guard: redis check: lock value: %w", err)
		}
		if u > now && u > until {
			l, until = lockOf(ts[i].scope, u), u
		}
	}
	return l, nil
}

// failScript counts one failure atomically. KEYS: counter and lock of each target, in tie-break order. ARGV: now
// (ms), a unique member, then for each target its failures, window (ms) and lock length (ms). It returns
// {caused, index, until}: caused 0 with the lock already in force, 1 with the lock this failure caused (index 0
// when none), index counting targets from 1.
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS / 2
local best, bestUntil = 0, 0
for i = 1, n do
  local u = tonumber(redis.call('GET', KEYS[2*i]) or '0') or 0
  if u > now and u > bestUntil then best, bestUntil = i, u end
end
if best > 0 then return {0, best, bestUntil} end
for i = 1, n do
  local counter, lock = KEYS[2*i-1], KEYS[2*i]
  local failures = tonumber(ARGV[3*i])
  local window = tonumber(ARGV[3*i+1])
  local lockFor = tonumber(ARGV[3*i+2])
  redis.call('ZREMRANGEBYSCORE', counter, '-inf', now - window)
  if redis.call('ZCARD', counter) + 1 >= failures then
    redis.call('DEL', counter)
    local u = now + lockFor
    redis.call('SET', lock, string.format('%d', u), 'PX', string.format('%d', lockFor))
    if u > bestUntil then best, bestUntil = i, u end
  else
    redis.call('ZADD', counter, string.format('%d', now), member)
    redis.call('PEXPIRE', counter, string.format('%d', window))
  end
end
return {1, best, bestUntil}
`)

// Fail counts one failure in each of the attempt's scopes and returns the lock it caused (the one ending last, the
// broadest on a tie). While a scope is already locked it counts nothing and returns that lock. One script call.
func (r *Redis) Fail(ctx context.Context, account, ip string) (idshift.Lock, error) {
	ts := r.cfg.targets(account, ip)
	if len(ts) == 0 {
		return idshift.Lock{}, nil
	}
	now := millis(r.cfg.Now())
	keys := make([]string, 0, 2*len(ts))
	args := make([]any, 0, 2+3*len(ts))
	args = append(args, now, strconv.FormatInt(now, 36)+"."+strconv.FormatUint(rand.Uint64(), 36))
	for _, t := range ts {
		keys = append(keys, r.counterKey(t), r.lockKey(t))
		args = append(args, t.limit.Failures, t.limit.Window.Milliseconds(), t.limit.LockFor.Milliseconds())
	}
	res, err := failScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return idshift.Lock{}, fmt.Errorf("guard: redis fail: %w", err)
	}
	if len(res) != 3 || res[1] < 0 || res[1] > int64(len(ts)) {
		return idshift.Lock{}, fmt.Errorf("guard: redis fail: unexpected script reply %v", res)
	}
	if res[1] == 0 {
		return idshift.Lock{}, nil
	}
	return lockOf(ts[res[1]-1].scope, res[2]), nil
}

// Succeed clears the (account, ip) counter: one DEL. A lock in force stays.
func (r *Redis) Succeed(ctx context.Context, account, ip string) error {
	if account == "" || ip == "" || r.cfg.Pair.Failures <= 0 {
		return nil
	}
	t := target{scope: scopePair, id: digest(scopePair, account, ip)}
	if err := r.client.Del(ctx, r.counterKey(t)).Err(); err != nil {
		return fmt.Errorf("guard: redis succeed: %w", err)
	}
	return nil
}

var _ idshift.Guard = (*Redis)(nil)

package guard

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idshift/idshift"
)

// Redis is the guard shared by several replicas through one Redis server: the limits hold in total across every
// process using the same server and Config.Prefix.
//
// Each counter is a sorted set of failure times (an exact sliding window, not an approximation), next to a sorted
// set of the reservations in it (member: the reservation's random id, score: its time), together holding at most
// the scope's Failures members, each with a TTL of its window; each lock is a string holding its end time, with a
// TTL of its length. Keys are Prefix + "c:" (failures), "h:" (reservations) or "l:" (lock) + the scope's letter +
// ":" + a hex digest (no account name or address in clear). Reserve, Fail, Succeed and each settlement of a
// reservation are one Lua script (atomic: concurrent attempts from any number of replicas are counted exactly),
// Check one MGET: one round trip each. Time comes from Config.Now, passed to the script,
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

func (r *Redis) holdsKey(t target) string {
	return r.cfg.Prefix + "h:" + scopeLetters[t.scope] + ":" + hex.EncodeToString(t.id[:])
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

// keys returns the counter, reservations and lock of each target, in tie-break order.
func (r *Redis) keys(ts []target) []string {
	keys := make([]string, 0, 3*len(ts))
	for _, t := range ts {
		keys = append(keys, r.counterKey(t), r.holdsKey(t), r.lockKey(t))
	}
	return keys
}

// newID returns a reservation's (or an unreserved failure's) member: unique across replicas.
func newID(now int64) string {
	return strconv.FormatInt(now, 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// lockReply reads a script's {code, index, until}: index counts targets from 1 (0: no lock).
func lockReply(op string, res []int64, ts []target) (int64, idshift.Lock, error) {
	if len(res) != 3 || res[1] < 0 || res[1] > int64(len(ts)) {
		return 0, idshift.Lock{}, fmt.Errorf("guard: redis %s: unexpected script reply %v", op, res)
	}
	if res[1] == 0 {
		return res[0], idshift.Lock{}, nil
	}
	return res[0], lockOf(ts[res[1]-1].scope, res[2]), nil
}

// reserveScript takes a place in each window atomically with the lock check. KEYS: counter, reservations and lock
// of each target, in tie-break order. ARGV: now (ms), the reservation's id, then for each target its failures and
// window (ms). It returns {code, index, until}: code 0 with the lock in force, 1 with the full scope (until: when
// its oldest entry leaves the window), 2 when reserved.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = #KEYS / 3
local best, bestUntil = 0, 0
for i = 1, n do
  local u = tonumber(redis.call('GET', KEYS[3*i]) or '0') or 0
  if u > now and u > bestUntil then best, bestUntil = i, u end
end
if best > 0 then return {0, best, bestUntil} end
for i = 1, n do
  local counter, holds = KEYS[3*i-2], KEYS[3*i-1]
  local failures = tonumber(ARGV[2*i+1])
  local window = tonumber(ARGV[2*i+2])
  redis.call('ZREMRANGEBYSCORE', counter, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now - window)
  if redis.call('ZCARD', counter) + redis.call('ZCARD', holds) >= failures then
    local oldest = now
    for _, key in ipairs({counter, holds}) do
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] and tonumber(first[2]) < oldest then oldest = tonumber(first[2]) end
    end
    local u = oldest + window
    if u > bestUntil then best, bestUntil = i, u end
  end
end
if best > 0 then return {1, best, bestUntil} end
for i = 1, n do
  redis.call('ZADD', KEYS[3*i-1], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[3*i-1], ARGV[2*i+2])
end
return {2, 0, 0}
`)

// failScript settles a reservation as a failure, or counts one failure without a reservation, atomically. KEYS:
// counter, reservations and lock of each target, in tie-break order. ARGV: now (ms), the id (the reservation's,
// also the failure's member), the hold (ms), then for each target its failures, window (ms) and lock length (ms).
// It returns {code, index, until}: code 0 with the lock already in force, 1 with the lock this failure caused
// (index 0 when none).
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local id = ARGV[2]
local stale = now - tonumber(ARGV[3])
local n = #KEYS / 3
for i = 1, n do redis.call('ZREM', KEYS[3*i-1], id) end
local best, bestUntil = 0, 0
for i = 1, n do
  local u = tonumber(redis.call('GET', KEYS[3*i]) or '0') or 0
  if u > now and u > bestUntil then best, bestUntil = i, u end
end
if best > 0 then return {0, best, bestUntil} end
for i = 1, n do
  local counter, holds, lock = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local failures = tonumber(ARGV[3*i+1])
  local window = tonumber(ARGV[3*i+2])
  local lockFor = tonumber(ARGV[3*i+3])
  redis.call('ZREMRANGEBYSCORE', counter, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now - window)
  if redis.call('ZCARD', counter) + redis.call('ZCOUNT', holds, '-inf', stale) + 1 >= failures then
    redis.call('DEL', counter, holds)
    local u = now + lockFor
    redis.call('SET', lock, string.format('%d', u), 'PX', string.format('%d', lockFor))
    if u > bestUntil then best, bestUntil = i, u end
  else
    redis.call('ZADD', counter, ARGV[1], id)
    redis.call('PEXPIRE', counter, string.format('%d', window))
  end
end
return {1, best, bestUntil}
`)

// settleScript gives a reservation's places back and, after a right password, clears the pair counter. KEYS:
// counter, reservations and lock of each target. ARGV: now (ms), the id, the hold (ms), the pair's index (from 1;
// 0: release only). The pair loses its failures and its stale reservations; the ones in flight stay.
var settleScript = redis.NewScript(`
local n = #KEYS / 3
for i = 1, n do redis.call('ZREM', KEYS[3*i-1], ARGV[2]) end
local p = tonumber(ARGV[4])
if p > 0 then
  redis.call('DEL', KEYS[3*p-2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3*p-1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
end
return 0
`)

// Reserve takes a place in each of the attempt's windows, atomically with the lock check, and returns it: it
// counts as a failure until settled. A lock in force, or a scope whose failures and reservations already reach its
// Failures, returns that Lock and no reservation (for a full scope, Until is when its oldest entry leaves the
// window; the broadest scope on a tie). One script call.
func (r *Redis) Reserve(ctx context.Context, account, ip string) (idshift.Reservation, idshift.Lock, error) {
	ts := r.cfg.targets(account, ip)
	res := &redisReservation{r: r, ts: ts}
	if len(ts) == 0 {
		res.settled.Store(true)
		return res, idshift.Lock{}, nil
	}
	now := millis(r.cfg.Now())
	res.id = newID(now)
	args := make([]any, 0, 2+2*len(ts))
	args = append(args, now, res.id)
	for _, t := range ts {
		args = append(args, t.limit.Failures, t.limit.Window.Milliseconds())
	}
	reply, err := reserveScript.Run(ctx, r.client, r.keys(ts), args...).Int64Slice()
	if err != nil {
		return nil, idshift.Lock{}, fmt.Errorf("guard: redis reserve: %w", err)
	}
	code, l, err := lockReply("reserve", reply, ts)
	if err != nil {
		return nil, idshift.Lock{}, err
	}
	if code != 2 {
		if !l.Locked {
			return nil, idshift.Lock{}, fmt.Errorf("guard: redis reserve: unexpected script reply %v", reply)
		}
		return nil, l, nil
	}
	return res, idshift.Lock{}, nil
}

// Fail counts one failure in each of the attempt's scopes and returns the lock it caused (the one ending last, the
// broadest on a tie). While a scope is already locked it counts nothing and returns that lock. It takes no
// reservation: Reserve is what keeps a limit strict. One script call.
func (r *Redis) Fail(ctx context.Context, account, ip string) (idshift.Lock, error) {
	ts := r.cfg.targets(account, ip)
	if len(ts) == 0 {
		return idshift.Lock{}, nil
	}
	now := millis(r.cfg.Now())
	return r.fail(ctx, ts, newID(now), now)
}

func (r *Redis) fail(ctx context.Context, ts []target, id string, now int64) (idshift.Lock, error) {
	args := make([]any, 0, 3+3*len(ts))
	args = append(args, now, id, r.cfg.Hold.Milliseconds())
	for _, t := range ts {
		args = append(args, t.limit.Failures, t.limit.Window.Milliseconds(), t.limit.LockFor.Milliseconds())
	}
	res, err := failScript.Run(ctx, r.client, r.keys(ts), args...).Int64Slice()
	if err != nil {
		return idshift.Lock{}, fmt.Errorf("guard: redis fail: %w", err)
	}
	_, l, err := lockReply("fail", res, ts)
	return l, err
}

// Succeed clears the (account, ip) counter: its failures and stale reservations (the ones in flight stay). A lock
// in force stays. One script call.
func (r *Redis) Succeed(ctx context.Context, account, ip string) error {
	if account == "" || ip == "" || r.cfg.Pair.Failures <= 0 {
		return nil
	}
	ts := []target{{scope: scopePair, id: digest(scopePair, account, ip)}}
	return r.settle(ctx, "succeed", ts, "", 1)
}

func (r *Redis) settle(ctx context.Context, op string, ts []target, id string, pair int) error {
	err := settleScript.Run(ctx, r.client, r.keys(ts), millis(r.cfg.Now()), id, r.cfg.Hold.Milliseconds(), pair).Err()
	if err != nil {
		return fmt.Errorf("guard: redis %s: %w", op, err)
	}
	return nil
}

// releaseWait bounds Release, which runs whatever the attempt's context (a decision past its deadline releases
// its reservation too).
const releaseWait = time.Second

// redisReservation is a Redis guard's reservation.
type redisReservation struct {
	r       *Redis
	ts      []target
	id      string
	settled atomic.Bool
}

// Fail settles the reservation as a failure: one script call. On an error the place stays, and counts as a
// failure.
func (s *redisReservation) Fail(ctx context.Context) (idshift.Lock, error) {
	if s.settled.Swap(true) {
		return idshift.Lock{}, nil
	}
	return s.r.fail(ctx, s.ts, s.id, millis(s.r.cfg.Now()))
}

// Succeed gives the place back and clears the pair counter as Redis.Succeed does: one script call.
func (s *redisReservation) Succeed(ctx context.Context) error {
	if s.settled.Swap(true) {
		return nil
	}
	pair := 0
	for i, t := range s.ts {
		if t.scope == scopePair {
			pair = i + 1
		}
	}
	return s.r.settle(ctx, "succeed", s.ts, s.id, pair)
}

// Release gives the place back, counting nothing: one script call, bounded by its own second.
func (s *redisReservation) Release() error {
	if s.settled.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseWait)
	defer cancel()
	return s.r.settle(ctx, "release", s.ts, s.id, 0)
}

var (
	_ idshift.Guard       = (*Redis)(nil)
	_ idshift.Reservation = (*redisReservation)(nil)
)

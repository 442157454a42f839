//! The compact layout of what Hookline keeps per message and per claim in Redis: many entries
//! per Redis hash instead of one top-level key each, and every operation on one hash slot.
//!
//! A top-level key costs Redis about 100 bytes before its value (dict entry, key string,
//! object header, expiry entry); a field of a small hash (listpack encoding) costs its bytes
//! plus two. So an entry lives in a hash, found from its *logical key* (the
//! [`crate::keys`] string it had as a key of its own):
//!
//! - `field` = the first 8 bytes of SHA-256 of the logical key (a field names no id; finding a
//!   second logical key with the same field takes 2^64 work);
//! - `tag` = 14 of those bits: the entry's **directory** `<prefix>{<family>.<tag>}`, a hash of
//!   the live time buckets, and its buckets' hashes `<directory>:<bucket>:<n>` share the hash
//!   tag, so one script sees all of them on one cluster slot; 16,384 tags a family spread the
//!   load of any one workspace over every shard;
//! - Redis 7.0 has no per-field expiry, so entries are written into **time buckets**: a
//!   bucket is `2^k` seconds (the smallest power of two ≥ TTL/16), its hashes expire at the
//!   bucket's end plus the TTL, so an entry lives at least its TTL and at most 1/16 longer. A
//!   reader needs no TTL: it probes the buckets its directory lists;
//! - a bucket has as many hashes (`n`) as its directory's newest bucket had entries / 64,
//!   fixed when the bucket is made, so hashes stay small (listpack) as traffic grows.
//!
//! An entry has one copy: writing an entry again moves it into the current bucket. The
//! scripts are sent once and called by SHA (`EVALSHA`); `redis::Script` loads them again
//! after a Redis restart or failover.

use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Tags per family (the number of cluster hash slots: more would only share slots).
const TAGS: u64 = 16_384;

/// What kind of entry: each has its own directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A message record ([`crate::record`]) by its carrier id.
    Record,
    /// A message id's entry: the owner's digest and the record's field.
    Index,
    /// A claim (dedup, first final status) or a click's message id: a short value.
    Claim,
}

impl Family {
    fn code(self) -> char {
        match self {
            Self::Record => 'm',
            Self::Index => 'i',
            Self::Claim => 'c',
        }
    }
}

/// Where an entry lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The directory key, without the store's prefix.
    pub dir: String,
    pub field: [u8; 8],
    /// Picks the entry's hash within a bucket (`sub mod n`).
    pub sub: u32,
}

impl Slot {
    /// The slot of the entry with this logical key.
    pub fn of(family: Family, logical_key: &str) -> Self {
        Self::of_field(family, digest(logical_key.as_bytes()))
    }

    /// The slot of the entry with this field (an index entry names its record's field).
    pub fn of_field(family: Family, field: [u8; 8]) -> Self {
        let h = u64::from_be_bytes(field);
        Self {
            dir: format!("{{{}.{}}}", family.code(), h % TAGS),
            field,
            sub: ((h >> 14) & 0xffff_ffff) as u32,
        }
    }
}

/// The first 8 bytes of SHA-256.
pub fn digest(bytes: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(bytes);
    d[..8].try_into().expect("8 bytes")
}

/// The bucket an entry written now with `ttl` goes to: its name and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// `<end / width>.<log2 of width>` (short: it is part of every hash's key).
    pub name: String,
    pub end_ms: u64,
}

impl Bucket {
    pub fn at(now: SystemTime, ttl: Duration) -> Self {
        let width = ttl.as_secs().div_ceil(16).max(1).next_power_of_two();
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let end = (now / width + 1) * width;
        Self {
            name: format!("{}.{}", end / width, width.trailing_zeros()),
            end_ms: end * 1000,
        }
    }
}

/// What a put found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; `replaced` when an acceptable entry was there before.
    Written { replaced: bool },
    /// Another holder's entry (or a legacy key's value) is there; nothing was written.
    Refused(Vec<u8>),
}

/// How a put treats an entry already there.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Never replaced: the holder is returned (claims).
    Claim,
    /// Replaced when it starts with these bytes (the same owner's), else refused.
    Own(&'a [u8]),
}

/// Lua shared by the scripts: `copies(field, sub)` lists `{hash key, value}` of the field in
/// every bucket of directory `KEYS[1]` (a hash: bucket name → its number of hashes), and the
/// directory's fields and values.
const LOCATE: &str = r"
local dir = KEYS[1]
local function copies(field, sub)
  local found = {}
  local members = redis.call('HGETALL', dir)
  for i = 1, #members, 2 do
    local k = dir .. ':' .. members[i] .. ':' .. (sub % tonumber(members[i + 1]))
    local v = redis.call('HGET', k, field)
    if v then found[#found + 1] = {k, v} end
  end
  return found, members
end
";

/// `KEYS[1]` directory, `KEYS[2]` legacy key (optional); `ARGV` field, sub. Returns
/// `{1, value}` (found), `{2, value}` (found under the legacy key) or `{0, ''}`.
static FIND: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{LOCATE}
local found = copies(ARGV[1], tonumber(ARGV[2]))
if #found > 0 then return {{1, found[1][2]}} end
if KEYS[2] then
  local v = redis.call('GET', KEYS[2])
  if v then return {{2, v}} end
end
return {{0, ''}}"
    ))
});

/// `KEYS[1]` directory, `KEYS[2]` legacy key (optional, a JSON message or a claim's value);
/// `ARGV` field, sub, value, mode (`claim` | `own`), owner prefix, bucket name, bucket end
/// (ms), TTL (ms), now (ms), and the owner's workspace id and message id (for a legacy JSON
/// message). Returns `{0|1, ''}` (written; 1 when it replaced an entry) or `{2, holder}`.
static PUT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{LOCATE}
local field, sub, value, mode, owner = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local cur, bucket_end, ttl, now = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local found, members = copies(field, sub)
for _, c in ipairs(found) do
  if mode ~= 'own' or string.sub(c[2], 1, #owner) ~= owner then return {{2, c[2]}} end
end
if #found == 0 and KEYS[2] then
  local v = redis.call('GET', KEYS[2])
  if v then
    if mode ~= 'own' then return {{2, v}} end
    local ok, d = pcall(cjson.decode, v)
    if not ok or type(d) ~= 'table' or d.workspace_id ~= ARGV[10] or d.message_id ~= ARGV[11] then
      return {{2, v}}
    end
  end
end
local n = nil
for i = 1, #members, 2 do
  if members[i] == cur then n = tonumber(members[i + 1]) end
end
if not n then
  -- A new bucket: sized by the newest live one; buckets whose hashes are gone are forgotten.
  local newest, newest_len = -1, 0
  for i = 1, #members, 2 do
    local name, count = members[i], tonumber(members[i + 1])
    local total, live = 0, false
    for j = 0, count - 1 do
      local len = redis.call('HLEN', dir .. ':' .. name .. ':' .. j)
      total = total + len
      if len > 0 then live = true end
    end
    local no, exp = string.match(name, '^(%d+)%.(%d+)$')
    local ends = tonumber(no) * 2 ^ tonumber(exp)
    if not live then
      redis.call('HDEL', dir, name)
    elseif ends > newest then
      newest, newest_len = ends, total
    end
  end
  n = math.min(4096, math.max(1, math.ceil(newest_len / 64)))
  redis.call('HSET', dir, cur, n)
end
local key = dir .. ':' .. cur .. ':' .. (sub % n)
redis.call('HSET', key, field, value)
for _, c in ipairs(found) do
  if c[1] ~= key then redis.call('HDEL', c[1], field) end
end
local keep = bucket_end + ttl - now
for _, k in ipairs({{key, dir}}) do
  if redis.call('PTTL', k) < keep then redis.call('PEXPIRE', k, keep) end
end
if #found > 0 then return {{1, ''}} end
return {{0, ''}}"
    ))
});

/// `KEYS[1]` directory; `ARGV` field, sub, value: removes the entry if it still has this
/// value (a put undone).
static UNDO: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{LOCATE}
local removed = 0
for _, c in ipairs(copies(ARGV[1], tonumber(ARGV[2]))) do
  if c[2] == ARGV[3] then removed = removed + redis.call('HDEL', c[1], ARGV[1]) end
end
return removed"
    ))
});

/// The scripts, for the Redis backend.
pub(crate) fn find_script() -> &'static redis::Script {
    &FIND
}

pub(crate) fn put_script() -> &'static redis::Script {
    &PUT
}

pub(crate) fn undo_script() -> &'static redis::Script {
    &UNDO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logical_key_always_has_the_same_slot_and_families_never_share_one() {
        let a = Slot::of(Family::Record, "msgc:smpp-eu-1:5bd1e995");
        assert_eq!(a, Slot::of(Family::Record, "msgc:smpp-eu-1:5bd1e995"));
        assert_eq!(a, Slot::of_field(Family::Record, a.field));
        assert!(a.dir.starts_with("{m.") && a.dir.ends_with('}'), "{}", a.dir);
        let c = Slot::of(Family::Claim, "msgc:smpp-eu-1:5bd1e995");
        assert_ne!(a.dir, c.dir);
        assert_ne!(a.field, Slot::of(Family::Record, "msgc:smpp-eu-1:5bd1e996").field);
    }

    #[test]
    fn tags_spread_one_workspace_over_every_shard() {
        let tags: std::collections::HashSet<String> = (0..20_000)
            .map(|i| Slot::of(Family::Claim, &format!("claim:uclick:whale:b1:+1415{i:07}")).dir)
            .collect();
        assert!(tags.len() > 11_000, "{} tags", tags.len());
    }

    #[test]
    fn buckets_are_a_sixteenth_of_the_ttl() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let b = Bucket::at(t, Duration::from_secs(72 * 3600));
        // 72 h / 16 = 16,200 s, rounded up to 2^14.
        assert_eq!(b.name, format!("{}.14", 1_796_000_000 / 16_384 + 1));
        assert_eq!(b.end_ms % (16_384 * 1000), 0);
        let later = Bucket::at(t + Duration::from_secs(16_384), Duration::from_secs(72 * 3600));
        assert_eq!(later.end_ms, b.end_ms + 16_384_000);
        assert_eq!(Bucket::at(t, Duration::from_millis(1)).name, "1796000001.0");
        let end = Bucket::at(t, Duration::from_secs(60)).end_ms;
        assert!(end > 1_796_000_000_000 && end <= 1_796_000_004_000, "{end}");
    }
}

package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"
)

// Event types.
const (
	OfferCreated     = "offer.created"
	OfferCancelled   = "offer.cancelled"
	OfferRedeemed    = "offer.redeemed"
	TokenIssued      = "token.issued"
	CredentialIssued = "credential.issued"
	// CredentialDeferred: a request now waits for a back-office decision.
	CredentialDeferred = "credential.deferred"
	Notification       = "credential.notification"
	DeferredDecision   = "deferred.decision"
	AdminAction        = "admin.action"
)

// Event is what a caller records.
type Event struct {
	Type   string
	Fields map[string]string
}

// Record is one line of the log.
type Record struct {
	Seq    uint64            `json:"seq"`
	Time   time.Time         `json:"time"`
	Type   string            `json:"type"`
	Fields map[string]string `json:"fields,omitempty"`
	Prev   string            `json:"prev"`
	Hash   string            `json:"hash"`
}

// genesis is the Prev of the first record.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Log appends records to a file. It is safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	key  []byte
	now  func() time.Time
	seq  uint64
	prev string
}

// Open opens (creating if needed, mode 0600) the log at path and continues its
// chain after checking it. key may be nil (plain SHA-256 links).
func Open(path string, key []byte, now func() time.Time) (*Log, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	last, err := verify(f, key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: existing log %s does not verify: %w", path, err)
	}
	l := &Log{f: f, key: key, now: now, prev: genesis}
	if last != nil {
		l.seq, l.prev = last.Seq, last.Hash
	}
	return l, nil
}

// Append writes one record and syncs the file.
func (l *Log) Append(e Event) error {
	if e.Type == "" {
		return errors.New("audit: event type required")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Record{Seq: l.seq + 1, Time: l.now().UTC().Truncate(time.Millisecond), Type: e.Type, Fields: e.Fields, Prev: l.prev}
	h, err := link(l.key, &r)
	if err != nil {
		return err
	}
	r.Hash = h
	line, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	l.seq, l.prev = r.Seq, r.Hash
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// link computes the record's hash: H(prev || canonical JSON of the record
// without its hash), H = HMAC-SHA256(key) or SHA-256.
func link(key []byte, r *Record) (string, error) {
	body := *r
	body.Hash = ""
	b, err := json.Marshal(&body)
	if err != nil {
		return "", err
	}
	var h hash.Hash
	if len(key) > 0 {
		h = hmac.New(sha256.New, key)
	} else {
		h = sha256.New()
	}
	h.Write([]byte(r.Prev))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyError locates the first broken record.
type VerifyError struct {
	Line   int
	Reason string
}

func (e *VerifyError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Verify reads a whole log and checks every record's hash, its link to the
// previous record and the sequence. It returns the number of records.
func Verify(r io.Reader, key []byte) (int, error) {
	last, err := verify(r, key)
	if last == nil {
		return 0, err
	}
	return int(last.Seq), err
}

func verify(r io.Reader, key []byte) (*Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	prev, line := genesis, 0
	var last *Record
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			return last, &VerifyError{line, "empty line"}
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return last, &VerifyError{line, "not a record: " + err.Error()}
		}
		if rec.Seq != uint64(line) {
			return last, &VerifyError{line, fmt.Sprintf("sequence %d, want %d (record removed or reordered)", rec.Seq, line)}
		}
		if rec.Prev != prev {
			return last, &VerifyError{line, "prev does not match the previous record's hash"}
		}
		want, err := link(key, &rec)
		if err != nil {
			return last, &VerifyError{line, err.Error()}
		}
		if !hmac.Equal([]byte(want), []byte(rec.Hash)) {
			return last, &VerifyError{line, "hash mismatch (record altered, or wrong key)"}
		}
		prev = rec.Hash
		last = &rec
	}
	if err := sc.Err(); err != nil {
		return last, &VerifyError{line + 1, err.Error()}
	}
	return last, nil
}

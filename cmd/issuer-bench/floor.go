package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"
)

// Signature operations one pre-authorized flow needs on the server, with the
// key types of the run (every key is P-256, every signature ES256):
//
//	wallet attestation   x5c leaf certificate signature + JWT signature  2 verify
//	attestation PoP      JWT signature                                   1 verify
//	DPoP proof (token)   JWT signature                                   1 verify
//	DPoP proof (credential) JWT signature                                1 verify
//	key attestation      x5c leaf certificate signature + JWT signature  2 verify
//	jwt proof            JWT signature (one proof: the attestation covers every key) 1 verify
//	MSO                  COSE_Sign1 ES256, one per credential            1 sign each
//
// The nonce endpoint, DPoP and c_nonce server nonces and token MACs are
// HMAC-SHA256 and not counted: the floor is the public-key work only.
const floorVerifies = 8

// performedVerifies is how many of the floorVerifies the issuer still
// performs per flow once its caches are warm: wia caches validated x5c
// chains (the wallet provider's and the key attestation issuer's chains are
// the same in every flow) and verified wallet attestations (a wallet
// instance presents the same one in every flow). Left: PoP, two DPoP proofs,
// the key attestation JWT and the jwt proof, plus the wallet attestation JWT
// when every flow has a fresh wallet instance.
func performedVerifies(freshWallet bool) int {
	if freshWallet {
		return 6
	}
	return 5
}

// floor is the measured CPU cost of one ES256 verification and signature.
type floor struct {
	verify, sign time.Duration
}

// perFlow is the crypto floor of one flow issuing n credentials.
func (f floor) perFlow(n int) time.Duration {
	return floorVerifies*f.verify + time.Duration(n)*f.sign
}

// threadCPU is the CPU time of the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID, nanosecond resolution; getrusage counts in
// ticks), so the measurement does not count other goroutines or processes.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic("clock_gettime(CLOCK_THREAD_CPUTIME_ID): " + errno.Error())
	}
	return time.Duration(ts.Nano())
}

// floorInputs returns a P-256 key, a 1 KiB message (the size of a wallet
// attestation or an MSO) and an ES256 signature of it.
func floorInputs() (*ecdsa.PrivateKey, []byte, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	msg := make([]byte, 1024)
	_, _ = rand.Read(msg)
	d := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		panic(err)
	}
	return key, msg, sig
}

// measureFloor times ES256 verification and signing single-threaded over
// iterations each: SHA-256 of a 1 KiB message (the size of a wallet
// attestation or an MSO) and the P-256 operation. The iterations run in 20
// batches and the median batch counts, so that a burst of other work on a
// shared machine does not skew the floor.
func measureFloor(iterations int) floor {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	key, msg, sig := floorInputs()
	d := sha256.Sum256(msg)
	// Warm up.
	for range 50 {
		_ = ecdsa.VerifyASN1(&key.PublicKey, d[:], sig)
	}
	const batches = 20
	per := max(iterations/batches, 1)
	var vs, ss []time.Duration
	for range batches {
		start := threadCPU()
		for range per {
			h := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(&key.PublicKey, h[:], sig) {
				panic("verify failed")
			}
		}
		vs = append(vs, (threadCPU()-start)/time.Duration(per))
		start = threadCPU()
		for range per {
			h := sha256.Sum256(msg)
			if _, err := ecdsa.SignASN1(rand.Reader, key, h[:]); err != nil {
				panic(err)
			}
		}
		ss = append(ss, (threadCPU()-start)/time.Duration(per))
	}
	slices.Sort(vs)
	slices.Sort(ss)
	return floor{verify: vs[batches/2], sign: ss[batches/2]}
}

// floorProbe times one flow's signature operations (floorVerifies verifies
// and one signature) in short bursts while the timed flows run, on a thread
// of its own, so that the floor is also known under the load of the run: a
// busy machine makes every operation cost more CPU (caches, context
// switches), the issuer's signatures as much as the probe's.
type floorProbe struct {
	stop chan struct{}
	done chan floor
}

// startFloorProbe starts a probe that runs one burst every interval (about
// 0.5 ms of CPU each).
func startFloorProbe(interval time.Duration) *floorProbe {
	p := &floorProbe{stop: make(chan struct{}), done: make(chan floor, 1)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		key, msg, sig := floorInputs()
		var vs, ss []time.Duration
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				if len(vs) == 0 {
					p.done <- floor{}
					return
				}
				slices.Sort(vs)
				slices.Sort(ss)
				p.done <- floor{verify: vs[len(vs)/2], sign: ss[len(ss)/2]}
				return
			case <-t.C:
			}
			start := threadCPU()
			for range floorVerifies {
				h := sha256.Sum256(msg)
				if !ecdsa.VerifyASN1(&key.PublicKey, h[:], sig) {
					panic("verify failed")
				}
			}
			mid := threadCPU()
			h := sha256.Sum256(msg)
			if _, err := ecdsa.SignASN1(rand.Reader, key, h[:]); err != nil {
				panic(err)
			}
			end := threadCPU()
			vs = append(vs, (mid-start)/floorVerifies)
			ss = append(ss, end-mid)
		}
	}()
	return p
}

// finish stops the probe and returns the median burst's per-operation
// costs (zero if no burst ran).
func (p *floorProbe) finish() floor {
	close(p.stop)
	return <-p.done
}

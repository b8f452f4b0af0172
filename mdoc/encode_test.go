package mdoc

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"
)

// The reflective encodings the hand-written encoders of encode.go replace:
// the references they are checked against byte for byte.

type refDeviceKeyInfo struct {
	DeviceKey cbor.RawMessage `cbor:"deviceKey"`
}

type refMSO struct {
	Version         string           `cbor:"version"`
	DigestAlgorithm string           `cbor:"digestAlgorithm"`
	ValueDigests    cbor.RawMessage  `cbor:"valueDigests"`
	DeviceKeyInfo   refDeviceKeyInfo `cbor:"deviceKeyInfo"`
	DocType         string           `cbor:"docType"`
	ValidityInfo    validityInfo     `cbor:"validityInfo"`
}

func refSign1(t *testing.T, certs [][]byte, payload, sig []byte) []byte {
	t.Helper()
	var x5chain any = certs[0]
	if len(certs) > 1 {
		x5chain = certs
	}
	unprotected := mustEnc(t, detEnc, map[int]any{headerX5Chain: x5chain})
	return mustEnc(t, ordEnc, sign1{Protected: protectedES256, Unprotected: unprotected, Payload: mustEnc(t, detEnc, payload), Signature: sig})
}

func mustEnc(t *testing.T, em cbor.EncMode, v any) []byte {
	t.Helper()
	b, err := em.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantSame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", what, trimHex(got), trimHex(want))
	}
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodersMatchReflective: every hand-written encoder gives the bytes of
// the reflective encoding, over namespace names whose encodings sort
// differently from the strings (lengths across the 24-byte head boundary),
// digest ids across head sizes, one and several certificates, and
// validity with and without expectedUpdate.
func TestEncodersMatchReflective(t *testing.T) {
	names := []string{"org.iso.18013.5.1", "b", "aa", "org.iso.18013.5.1.aamva", strings.Repeat("n", 23), strings.Repeat("m", 24), "é"}
	for _, total := range []int{1, 23, 24, 30, 300} {
		var nss []nsDigests
		ref := map[string]map[uint32][]byte{}
		var items []nsItems
		refItems := map[string][]cbor.RawMessage{}
		for _, n := range names {
			d := nsDigests{name: n}
			ref[n] = map[uint32][]byte{}
			it := nsItems{name: n}
			for id := range total {
				sum := randBytes(t, 32)
				d.ids, d.sums = append(d.ids, uint32(id)), append(d.sums, sum)
				ref[n][uint32(id)] = sum
			}
			for range min(total, 5) {
				tagged := taggedItem(7, randBytes(t, 32), "x", []byte{0xf5})
				it.items = append(it.items, tagged)
				refItems[n] = append(refItems[n], tagged)
			}
			nss, items = append(nss, d), append(items, it)
		}
		vd := encodeValueDigests(nss)
		wantSame(t, "valueDigests", vd, mustEnc(t, detEnc, ref))

		now := time.Now().UTC().Truncate(time.Second)
		tdate := func(d time.Duration) TDate { v, _ := NewTDate(now.Add(d)); return v }
		exp := tdate(48 * time.Hour)
		for _, vi := range []validityInfo{
			{Signed: tdate(0), ValidFrom: tdate(0), ValidUntil: tdate(time.Hour)},
			{Signed: tdate(0), ValidFrom: tdate(time.Minute), ValidUntil: tdate(time.Hour), ExpectedUpdate: &exp},
		} {
			venc, err := encodeValidity(vi)
			if err != nil {
				t.Fatal(err)
			}
			wantSame(t, "validityInfo", venc, mustEnc(t, ordEnc, vi))
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			coseKey, _, err := coseKeyFromJWK(&jose.JSONWebKey{Key: &key.PublicKey})
			if err != nil {
				t.Fatal(err)
			}
			mso := encodeMSO(vd, coseKey, "org.iso.18013.5.1.mDL", venc)
			wantSame(t, "MSO", mso, mustEnc(t, ordEnc, refMSO{Version: "1.0", DigestAlgorithm: "SHA-256", ValueDigests: vd,
				DeviceKeyInfo: refDeviceKeyInfo{DeviceKey: coseKey}, DocType: "org.iso.18013.5.1.mDL", ValidityInfo: vi}))
			payload := encodeTag24(mso)
			ref24, err := encodedCBOR(mso)
			if err != nil {
				t.Fatal(err)
			}
			wantSame(t, "tag 24", payload, ref24)
			wantSame(t, "Sig_structure", encodeSigStructure(protectedES256, payload), mustEnc(t, detEnc, []any{"Signature1", protectedES256, []byte{}, payload}))
			sig := randBytes(t, 64)
			for _, certs := range [][][]byte{{randBytes(t, 700)}, {randBytes(t, 700), randBytes(t, 20)}, {randBytes(t, 70000)}} {
				unprot, err := encodeUnprotected(certs)
				if err != nil {
					t.Fatal(err)
				}
				auth := encodeSign1(protectedES256, unprot, payload, sig)
				wantSame(t, "COSE_Sign1", auth, refSign1(t, certs, payload, sig))
				wantSame(t, "IssuerSigned", encodeIssuerSigned(items, auth),
					mustEnc(t, ordEnc, issuerSigned{NameSpaces: mustEnc(t, detEnc, refItems), IssuerAuth: auth}))
			}
		}
	}
	if _, err := encodeUnprotected(nil); err == nil {
		t.Fatal("empty x5chain encoded")
	}
}

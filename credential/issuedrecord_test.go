package credential

import (
	"reflect"
	"testing"

	"github.com/mdoc-issuer/issuer/storage"
)

// TestIssuedRecordCodec: version 2 round-trips every field (canonical and
// other serials and thumbprints, doctype equal to or apart from the
// configuration id), is smaller than version 1, and version 1 records
// still decode.
func TestIssuedRecordCodec(t *testing.T) {
	base := IssuedRecord{V: issuedV2, ConfigurationID: "org.iso.18013.5.1.mDL", DocType: "org.iso.18013.5.1.mDL",
		DSSerial: "6255668357829abfe4695749ec2280c4bd", DeviceKeyJKT: "viP4nkDLddXbGMXgoccrClG3cJka26jqEJKzQPdBtVg",
		WalletProvider: "wp", ClientID: "wallet-1", KeyAttestationIssuer: "https://ka.example", IssuedAt: 1790000000,
		ValidUntil: 1800000000, NotificationStatus: NotificationAccepted, NotificationAt: 1790000100}
	other := base
	other.ConfigurationID, other.DSSerial, other.DeviceKeyJKT = "mdl", "ABC-serial", "not base64!"
	for _, r := range []IssuedRecord{base, other, {V: issuedV2, ConfigurationID: "c", DocType: "d", IssuedAt: 1}} {
		b, err := encodeIssued(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeIssued(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", *got, r)
		}
	}
	v1 := base
	v1.V = 1
	b1, err := storage.Encode(v1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeIssued(b1)
	if err != nil || !reflect.DeepEqual(*got, v1) {
		t.Fatalf("version 1: %+v %v", got, err)
	}
	b2, _ := encodeIssued(&base)
	if len(b2) >= len(b1)-60 {
		t.Fatalf("version 2 is %d bytes, version 1 %d", len(b2), len(b1))
	}
	if _, err := decodeIssued([]byte{0xa0}); err == nil {
		t.Fatal("a record without version decoded")
	}
}

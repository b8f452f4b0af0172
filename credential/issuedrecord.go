package credential

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/mdoc-issuer/issuer/storage"
)

// issuedDTO is the stored form (version 2) of an IssuedRecord: integer map
// keys, the DS serial and the device key thumbprint as bytes, and the
// doctype only when it differs from the configuration id. Issued records
// are kept for RecordTTL (a year and more), so their size is most of the
// store's long-term footprint. Version 1 records (text keys, the
// IssuedRecord struct itself) are still read.
type issuedDTO struct {
	V        int    `cbor:"0,keyasint"`
	ConfigID string `cbor:"1,keyasint"`
	DocType  string `cbor:"2,keyasint,omitempty"`
	DSSerial []byte `cbor:"3,keyasint,omitempty"`
	JKT      []byte `cbor:"4,keyasint,omitempty"`
	Provider string `cbor:"5,keyasint,omitempty"`
	ClientID string `cbor:"6,keyasint,omitempty"`
	KAIssuer string `cbor:"7,keyasint,omitempty"`
	IssuedAt int64  `cbor:"8,keyasint"`
	Until    int64  `cbor:"9,keyasint,omitempty"`
	Status   string `cbor:"10,keyasint,omitempty"`
	StatusAt int64  `cbor:"11,keyasint,omitempty"`
	// The serial and the thumbprint as text when they are not canonical
	// lower-case hex and base64url (a Signer of another kind).
	DSText  string `cbor:"12,keyasint,omitempty"`
	JKTText string `cbor:"13,keyasint,omitempty"`
}

const issuedV2 = 2

// encodeIssued returns the stored form of r.
func encodeIssued(r *IssuedRecord) ([]byte, error) {
	d := issuedDTO{V: issuedV2, ConfigID: r.ConfigurationID, Provider: r.WalletProvider, ClientID: r.ClientID,
		KAIssuer: r.KeyAttestationIssuer, IssuedAt: r.IssuedAt, Until: r.ValidUntil,
		Status: r.NotificationStatus, StatusAt: r.NotificationAt}
	if r.DocType != r.ConfigurationID {
		d.DocType = r.DocType
	}
	if b, err := hex.DecodeString(r.DSSerial); err == nil && hex.EncodeToString(b) == r.DSSerial {
		d.DSSerial = b
	} else {
		d.DSText = r.DSSerial
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(r.DeviceKeyJKT); err == nil && base64.RawURLEncoding.EncodeToString(b) == r.DeviceKeyJKT {
		d.JKT = b
	} else {
		d.JKTText = r.DeviceKeyJKT
	}
	return storage.Encode(d)
}

// decodeIssued reads a stored issued-credential record of either version.
func decodeIssued(b []byte) (*IssuedRecord, error) {
	var d issuedDTO
	if err := storage.Decode(b, &d); err == nil && d.V == issuedV2 {
		r := &IssuedRecord{V: issuedV2, ConfigurationID: d.ConfigID, DocType: d.DocType,
			DSSerial: hex.EncodeToString(d.DSSerial), DeviceKeyJKT: base64.RawURLEncoding.EncodeToString(d.JKT),
			WalletProvider: d.Provider, ClientID: d.ClientID, KeyAttestationIssuer: d.KAIssuer,
			IssuedAt: d.IssuedAt, ValidUntil: d.Until, NotificationStatus: d.Status, NotificationAt: d.StatusAt}
		if r.DocType == "" {
			r.DocType = r.ConfigurationID
		}
		if d.DSText != "" {
			r.DSSerial = d.DSText
		}
		if d.JKTText != "" {
			r.DeviceKeyJKT = d.JKTText
		}
		return r, nil
	}
	var r IssuedRecord
	if err := storage.Decode(b, &r); err != nil {
		return nil, err
	}
	if r.V != 1 {
		return nil, fmt.Errorf("credential: issued record version %d", r.V)
	}
	return &r, nil
}

package launcher

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// PayloadVersion is the version of the launcher payload this package
// sends: the gateways' response managers decrypt version 1 as below.
const PayloadVersion = 1

// ConnectionInfo is what the kernel reports: a Jupyter connection file's
// fields plus the launcher's own (pid, pgid, comm_port, kernel_id).
type ConnectionInfo struct {
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	IP              string `json:"ip"`
	Key             string `json:"key"`
	Transport       string `json:"transport"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name"`
	PID             int    `json:"pid"`
	PGID            int    `json:"pgid"`
	CommPort        int    `json:"comm_port"`
	KernelID        string `json:"kernel_id"`
}

// envelope is the outer JSON of a version 1 payload; the whole of it is
// base64-encoded once more on the wire.
type envelope struct {
	Version  int    `json:"version"`
	Key      string `json:"key"`       // base64 of the AES key, RSA PKCS #1 v1.5-encrypted
	ConnInfo string `json:"conn_info"` // base64 of the JSON, AES-128-ECB with PKCS #7 padding
}

// ParsePublicKey reads the key a gateway passes: base64 DER of a
// SubjectPublicKeyInfo (a PEM body without its header lines, as the
// gateways send it) or of a PKCS #1 RSA key, or a whole PEM block.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, _ := pem.Decode([]byte(s))
		if b == nil {
			return nil, errors.New("public key: bad PEM")
		}
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, fmt.Errorf("public key: not base64: %w", err)
		}
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: a %T, want RSA", k)
		}
		return checkRSA(rk)
	}
	rk, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, errors.New("public key: neither a SubjectPublicKeyInfo nor a PKCS #1 RSA key")
	}
	return checkRSA(rk)
}

// checkRSA refuses keys too small to wrap a 16-byte AES key with PKCS #1
// v1.5 (11 bytes of padding) or too large to be anything but an attack on
// start-up time.
func checkRSA(k *rsa.PublicKey) (*rsa.PublicKey, error) {
	if bits := k.N.BitLen(); bits < 512 || bits > 8192 {
		return nil, fmt.Errorf("public key: %d bits, want 512..8192", bits)
	}
	return k, nil
}

// Seal encrypts info for the gateway that holds pub's private key, in the
// format of payload version 1: a fresh AES-128 key encrypts the JSON
// (ECB, PKCS #7 padding), RSA PKCS #1 v1.5 encrypts the AES key, and the
// envelope is base64 JSON. ECB and PKCS #1 v1.5 are what the gateways'
// response managers decrypt, so nothing stronger can be used here; the
// AES key is new for every payload and the payload is sent once.
func Seal(info ConnectionInfo, pub *rsa.PublicKey) ([]byte, error) {
	plain, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	padded := pkcs7Pad(plain, aes.BlockSize)
	ct := make([]byte, len(padded))
	for i := 0; i < len(padded); i += aes.BlockSize {
		block.Encrypt(ct[i:i+aes.BlockSize], padded[i:i+aes.BlockSize])
	}
	wrapped, err := rsa.EncryptPKCS1v15(rand.Reader, pub, key)
	if err != nil {
		return nil, fmt.Errorf("launcher: encrypting the AES key: %w", err)
	}
	env, err := json.Marshal(envelope{
		Version:  PayloadVersion,
		Key:      base64.StdEncoding.EncodeToString(wrapped),
		ConnInfo: base64.StdEncoding.EncodeToString(ct),
	})
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(env)), nil
}

// maxPayload bounds what Open reads: a connection info is a few hundred bytes.
const maxPayload = 64 << 10

// Open is the gateway's side of [Seal]: it decrypts a version 1 payload
// with the private key. Go programs that play the gateway (the tests, a
// Go provisioner) use it; any malformed payload is an error, never a panic.
func Open(payload []byte, priv *rsa.PrivateKey) (ConnectionInfo, error) {
	var info ConnectionInfo
	if len(payload) > maxPayload {
		return info, fmt.Errorf("launcher: payload of %d bytes, at most %d", len(payload), maxPayload)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(payload)))
	if err != nil {
		return info, fmt.Errorf("launcher: payload not base64: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return info, fmt.Errorf("launcher: payload envelope: %w", err)
	}
	if env.Version != PayloadVersion {
		return info, fmt.Errorf("launcher: payload version %d, want %d", env.Version, PayloadVersion)
	}
	wrapped, err1 := base64.StdEncoding.DecodeString(env.Key)
	ct, err2 := base64.StdEncoding.DecodeString(env.ConnInfo)
	if err := errors.Join(err1, err2); err != nil {
		return info, fmt.Errorf("launcher: payload fields not base64: %w", err)
	}
	key, err := rsa.DecryptPKCS1v15(nil, priv, wrapped)
	if err != nil {
		return info, fmt.Errorf("launcher: payload key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return info, fmt.Errorf("launcher: payload key: %w", err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return info, errors.New("launcher: payload ciphertext is not whole blocks")
	}
	plain := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(plain[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	if plain, err = pkcs7Unpad(plain, aes.BlockSize); err != nil {
		return info, err
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return info, fmt.Errorf("launcher: payload connection info: %w", err)
	}
	return info, nil
}

func pkcs7Pad(b []byte, size int) []byte {
	n := size - len(b)%size
	return append(append([]byte(nil), b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

func pkcs7Unpad(b []byte, size int) ([]byte, error) {
	n := int(b[len(b)-1])
	if n == 0 || n > size || n > len(b) {
		return nil, errors.New("launcher: payload padding is wrong")
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errors.New("launcher: payload padding is wrong")
		}
	}
	return b[:len(b)-n], nil
}

package sandboxfs

import "testing"

// Charge counts bytes and a file against the quota, all or nothing.
func TestChargeIsAllOrNothing(t *testing.T) {
	q, err := NewQuota(100, 2)
	if err != nil {
		t.Skip("no shared memory here:", err)
	}
	if !q.Charge(60, 1) {
		t.Fatal("60 bytes and a file did not fit in 100 and 2")
	}
	if q.Charge(60, 1) {
		t.Fatal("120 bytes fit in 100")
	}
	if !q.Charge(40, 1) {
		t.Fatal("the refused charge left something counted")
	}
	if q.Charge(0, 1) {
		t.Fatal("a third file fit in 2")
	}
	if u := q.Usage(); u.Bytes != 100 || u.Files != 2 {
		t.Fatalf("usage %+v, want 100 bytes and 2 files", u)
	}
	var none *Quota
	if !none.Charge(1<<40, 1) {
		t.Fatal("no quota refused")
	}
}

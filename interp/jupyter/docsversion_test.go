package jupyter

import "testing"

// Help links follow the interpreter's version: a 3.13 build must not send
// users to the 3.12 docs, and a version the guest reports oddly (it is
// guest-controlled) falls back to the latest docs rather than a broken URL.
func TestDocsVersion(t *testing.T) {
	for in, want := range map[string]string{
		"3.12.0":      "3.12",
		"3.13.5":      "3.13",
		"3.14.0rc1":   "3.14",
		"3.13":        "3.13",
		"":            "3",
		"3":           "3",
		"3.":          "3",
		"x.y.z":       "3",
		"3.13/../..":  "3",
		"../evil.1.2": "3",
	} {
		if got := docsVersion(in); got != want {
			t.Errorf("docsVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

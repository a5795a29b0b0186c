package kernelspec

import (
	"path/filepath"
	"strings"
)

// DefaultSiteName is the site folder of a kernel started without a
// kernelspec name (by hand, or by a client that does not write
// kernel_name into the connection file).
const DefaultSiteName = "default"

// SiteDir is the folder %pip installs into for the kernelspec named
// name: dataDir/site/NAME, so that each kernelspec is its own environment
// (two kernelspecs of one binary do not see each other's packages, as two
// virtualenvs would not). Jupyter treats kernel names case-insensitively,
// so the folder is named in lower case; a name that is not a valid kernel
// name (it could then name another folder) gives DefaultSiteName.
func SiteDir(dataDir, name string) string {
	name = strings.ToLower(name)
	if !ValidName(name) {
		name = DefaultSiteName
	}
	return filepath.Join(dataDir, "site", name)
}

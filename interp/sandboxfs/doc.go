// Package sandboxfs mounts a host folder in the guest so that every path the
// guest names stays beneath that folder, whoever made the links on the way
// and whenever they change.
//
// wazero's own directory file system resolves guest paths on the host with
// the host's rules: it follows any symbolic link, and only refuses links
// whose target is absolute. A link made by cell code with a relative target
// that climbs out ("../../../..") therefore reached the whole host. This
// package never lets the host follow a link on the guest's behalf without a
// fence: every lookup is a single openat2(2) call with RESOLVE_BENEATH
// relative to the mount's root, so the kernel itself refuses any step
// (a "..", an absolute link, a relative link, a link swapped in while the
// call runs) that would leave the mount. Operations that name an entry
// rather than open it (unlink, rename, link, mkdir, symlink, readlink) first
// open the entry's parent directory that way and then act on one name
// relative to that pinned directory.
//
// On top of that fence it adds what a notebook sandbox needs and a plain
// directory mount lacks:
//
//   - hidden paths: the kernel's own folders (its code cache, its data,
//     history and Jupyter's runtime folder with connection files) may lie
//     inside the notebook folder (Jupyter started in the home folder). They
//     are not listed, opened, written, renamed or removed, through any name;
//   - read-only subtrees inside a writable mount, and read-only mounts;
//   - only regular files and directories are opened (a FIFO would block the
//     guest in open(2) where no interrupt reaches it; devices are the host's);
//   - nothing the guest creates is world-writable;
//   - a disk quota shared by every interpreter of one kernel session
//     (Quota), so a restart does not reset it.
//
// The file type's Seek returns experimental/sys's Errno, as wazero's File
// interface demands; go vet's stdmethods check wants io.Seeker's error and
// cannot be told otherwise, so tests/run.sh vets this package without it.
//
// It is Linux-only (openat2 needs Linux 5.6); elsewhere New fails and the
// kernel refuses to mount a host folder rather than mount it unfenced.
package sandboxfs

//go:build linux || darwin || freebsd

package attachstore

import "golang.org/x/sys/unix"

// statfsFree reports the bytes of dir's filesystem available to an
// unprivileged process (what df shows as available): root may write into
// the blocks some filesystems keep back, but the reserve is measured
// without them.
func statfsFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

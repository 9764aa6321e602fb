//go:build windows

package attachstore

import "golang.org/x/sys/windows"

// statfsFree reports the bytes of dir's volume available to this process
// (its quota included).
func statfsFree(dir string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return avail, nil
}

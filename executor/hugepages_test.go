package executor

import "testing"

func TestMountOf(t *testing.T) {
	const mounts = `/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,relatime,size=24684084k 0 0
tmpfs /mnt/huge tmpfs rw,relatime,size=4194304k,huge=always 0 0
tmpfs /mnt/with\040space tmpfs rw,huge=within_size 0 0
`
	tests := []struct {
		dir, fstype, opts string
		ok                bool
	}{
		{"/dev/shm/sluice/executor-0", "tmpfs", "rw,relatime,size=24684084k", true},
		{"/dev/shm", "tmpfs", "rw,relatime,size=24684084k", true},
		{"/dev/shmx/a", "ext4", "rw,relatime", true},
		{"/mnt/huge/x", "tmpfs", "rw,relatime,size=4194304k,huge=always", true},
		{"/mnt/with space/x", "tmpfs", "rw,huge=within_size", true},
		{"/var/lib/x", "ext4", "rw,relatime", true},
	}
	for _, tt := range tests {
		fstype, opts, ok := mountOf(mounts, tt.dir)
		if fstype != tt.fstype || opts != tt.opts || ok != tt.ok {
			t.Errorf("mountOf(%q) = %q, %q, %v; want %q, %q, %v", tt.dir, fstype, opts, ok, tt.fstype, tt.opts, tt.ok)
		}
	}
	if _, _, ok := mountOf("", "/x"); ok {
		t.Error("mountOf of no mounts reported a mount")
	}
}

func TestTmpfsWithoutHugePages(t *testing.T) {
	tests := []struct {
		opts, shmem string
		want        bool
	}{
		{"rw,relatime,size=1k", "always within_size advise [never] deny force", true},
		{"rw,huge=always", "always within_size advise [never] deny force", false},
		{"rw,huge=within_size", "", false},
		{"rw,huge=never", "", true},
		{"rw", "always within_size advise never deny [force]", false},
	}
	for _, tt := range tests {
		if got := tmpfsWithoutHugePages(tt.opts, tt.shmem); got != tt.want {
			t.Errorf("tmpfsWithoutHugePages(%q, %q) = %v, want %v", tt.opts, tt.shmem, got, tt.want)
		}
	}
}

package s3

import (
	"testing"

	"github.com/sluicedata/sluice/internal/miniotest"
	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

func TestFS_Conformance(t *testing.T) {
	srv := miniotest.Start(t)
	ufstest.Run(t, func(t testing.TB) ufs.FS {
		return newTestFS(t, srv, "", Options{PartSize: MinPartSize})
	})
}

func TestFS_ConformancePrefix(t *testing.T) {
	srv := miniotest.Start(t)
	ufstest.Run(t, func(t testing.TB) ufs.FS {
		return newTestFS(t, srv, "some/prefix", Options{})
	})
}

package mastertest

import (
	"testing"

	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

func TestMemFS_Conformance(t *testing.T) {
	ufstest.Run(t, func(testing.TB) ufs.FS { return NewMemFS() })
}

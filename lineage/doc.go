// Package lineage holds the lineage graph (job → inputs, outputs) and the checkpoint
// planner that orders outputs for persistence by the Edge algorithm of the Tachyon paper.
//
// It is pure logic with no I/O, so the master can journal its inputs and replay them
// deterministically. Nothing in it is implemented yet: the lineage issue builds it.
package lineage

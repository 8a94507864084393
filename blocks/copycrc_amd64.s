#include "textflag.h"

// copyCRC3 copies three streams of n bytes (n a multiple of 64) that start stride bytes
// apart in src to the same places in dst, while updating one raw (uninverted) CRC32C
// state per stream with the crc32 instruction (SSE4.2). Each byte is read from memory
// once for both the copy and the checksum; three independent streams hide the latency
// of the instruction, and a software prefetch 1 KiB ahead keeps the three streams fed.
// func copyCRC3(dst, src *byte, n, stride int, c0, c1, c2 uint32) (r0, r1, r2 uint32)
TEXT ·copyCRC3(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ stride+24(FP), R8
	MOVL c0+32(FP), AX
	MOVL c1+36(FP), BX
	MOVL c2+40(FP), DX
	LEAQ (R8)(R8*1), R9
	SHRQ $6, CX
	JZ   done

loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R8*1)
	PREFETCHT0 1024(SI)(R9*1)
	MOVOU  (SI), X0
	MOVOU  16(SI), X1
	MOVOU  32(SI), X2
	MOVOU  48(SI), X3
	MOVOU  (SI)(R8*1), X4
	MOVOU  16(SI)(R8*1), X5
	MOVOU  32(SI)(R8*1), X6
	MOVOU  48(SI)(R8*1), X7
	MOVOU  (SI)(R9*1), X8
	MOVOU  16(SI)(R9*1), X9
	MOVOU  32(SI)(R9*1), X10
	MOVOU  48(SI)(R9*1), X11
	CRC32Q (SI), AX
	CRC32Q (SI)(R8*1), BX
	CRC32Q (SI)(R9*1), DX
	CRC32Q 8(SI), AX
	CRC32Q 8(SI)(R8*1), BX
	CRC32Q 8(SI)(R9*1), DX
	CRC32Q 16(SI), AX
	CRC32Q 16(SI)(R8*1), BX
	CRC32Q 16(SI)(R9*1), DX
	CRC32Q 24(SI), AX
	CRC32Q 24(SI)(R8*1), BX
	CRC32Q 24(SI)(R9*1), DX
	CRC32Q 32(SI), AX
	CRC32Q 32(SI)(R8*1), BX
	CRC32Q 32(SI)(R9*1), DX
	CRC32Q 40(SI), AX
	CRC32Q 40(SI)(R8*1), BX
	CRC32Q 40(SI)(R9*1), DX
	CRC32Q 48(SI), AX
	CRC32Q 48(SI)(R8*1), BX
	CRC32Q 48(SI)(R9*1), DX
	CRC32Q 56(SI), AX
	CRC32Q 56(SI)(R8*1), BX
	CRC32Q 56(SI)(R9*1), DX
	MOVOU  X0, (DI)
	MOVOU  X1, 16(DI)
	MOVOU  X2, 32(DI)
	MOVOU  X3, 48(DI)
	MOVOU  X4, (DI)(R8*1)
	MOVOU  X5, 16(DI)(R8*1)
	MOVOU  X6, 32(DI)(R8*1)
	MOVOU  X7, 48(DI)(R8*1)
	MOVOU  X8, (DI)(R9*1)
	MOVOU  X9, 16(DI)(R9*1)
	MOVOU  X10, 32(DI)(R9*1)
	MOVOU  X11, 48(DI)(R9*1)
	ADDQ   $64, SI
	ADDQ   $64, DI
	DECQ   CX
	JNZ    loop

done:
	MOVL AX, r0+48(FP)
	MOVL BX, r1+52(FP)
	MOVL DX, r2+56(FP)
	RET

// copyCRC3NT is copyCRC3 with non-temporal stores, for a destination that is not read
// again soon (a block being written): the stores bypass the cache, which saves reading
// each destination line before overwriting it. dst must be 16-byte aligned.
// func copyCRC3NT(dst, src *byte, n, stride int, c0, c1, c2 uint32) (r0, r1, r2 uint32)
TEXT ·copyCRC3NT(SB), NOSPLIT, $0-60
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ stride+24(FP), R8
	MOVL c0+32(FP), AX
	MOVL c1+36(FP), BX
	MOVL c2+40(FP), DX
	LEAQ (R8)(R8*1), R9
	SHRQ $6, CX
	JZ   ntdone

ntloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1024(SI)(R8*1)
	PREFETCHT0 1024(SI)(R9*1)
	MOVOU  (SI), X0
	MOVOU  16(SI), X1
	MOVOU  32(SI), X2
	MOVOU  48(SI), X3
	MOVOU  (SI)(R8*1), X4
	MOVOU  16(SI)(R8*1), X5
	MOVOU  32(SI)(R8*1), X6
	MOVOU  48(SI)(R8*1), X7
	MOVOU  (SI)(R9*1), X8
	MOVOU  16(SI)(R9*1), X9
	MOVOU  32(SI)(R9*1), X10
	MOVOU  48(SI)(R9*1), X11
	CRC32Q (SI), AX
	CRC32Q (SI)(R8*1), BX
	CRC32Q (SI)(R9*1), DX
	CRC32Q 8(SI), AX
	CRC32Q 8(SI)(R8*1), BX
	CRC32Q 8(SI)(R9*1), DX
	CRC32Q 16(SI), AX
	CRC32Q 16(SI)(R8*1), BX
	CRC32Q 16(SI)(R9*1), DX
	CRC32Q 24(SI), AX
	CRC32Q 24(SI)(R8*1), BX
	CRC32Q 24(SI)(R9*1), DX
	CRC32Q 32(SI), AX
	CRC32Q 32(SI)(R8*1), BX
	CRC32Q 32(SI)(R9*1), DX
	CRC32Q 40(SI), AX
	CRC32Q 40(SI)(R8*1), BX
	CRC32Q 40(SI)(R9*1), DX
	CRC32Q 48(SI), AX
	CRC32Q 48(SI)(R8*1), BX
	CRC32Q 48(SI)(R9*1), DX
	CRC32Q 56(SI), AX
	CRC32Q 56(SI)(R8*1), BX
	CRC32Q 56(SI)(R9*1), DX
	MOVNTO X0, (DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	MOVNTO X4, (DI)(R8*1)
	MOVNTO X5, 16(DI)(R8*1)
	MOVNTO X6, 32(DI)(R8*1)
	MOVNTO X7, 48(DI)(R8*1)
	MOVNTO X8, (DI)(R9*1)
	MOVNTO X9, 16(DI)(R9*1)
	MOVNTO X10, 32(DI)(R9*1)
	MOVNTO X11, 48(DI)(R9*1)
	ADDQ   $64, SI
	ADDQ   $64, DI
	DECQ   CX
	JNZ    ntloop

ntdone:
	SFENCE
	MOVL AX, r0+48(FP)
	MOVL BX, r1+52(FP)
	MOVL DX, r2+56(FP)
	RET

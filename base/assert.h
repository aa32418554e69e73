/*
 * assert.h - mn_assert, the one way invariants are checked inside mnemo.
 *
 * A failed assertion prints file, line and function to stderr and aborts:
 * the only place library code prints, because continuing would corrupt
 * state. Builds with -DMN_NO_ASSERT compile the checks out (the expression
 * is then not evaluated, so it must have no side effects).
 */
#ifndef MN_BASE_ASSERT_H
#define MN_BASE_ASSERT_H

#ifdef MN_NO_ASSERT
#define mn_assert(expr) ((void)0)
#else
#define mn_assert(expr)                                                        \
	((expr) ? (void)0                                                      \
		: mn__assert_fail(#expr, __FILE__, __LINE__, __func__))
#endif

_Noreturn void mn__assert_fail(const char *expr, const char *file, int line,
			       const char *func);

#endif

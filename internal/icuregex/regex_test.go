package regex

import (
	"context"
	"testing"

	"gopkg.in/src-d/go-errors.v1"
)

// prepare returns a Regex for pattern and flags with text set, failing the
// test on an error.
func prepare(t *testing.T, pattern string, flags RegexFlags, text string) Regex {
	t.Helper()
	ctx := context.Background()
	r := CreateRegex(1024)
	t.Cleanup(func() { r.Close() })
	if err := r.SetRegexString(ctx, pattern, flags); err != nil {
		t.Fatalf("SetRegexString(%q, %d): %v", pattern, flags, err)
	}
	if err := r.SetMatchString(ctx, text); err != nil {
		t.Fatalf("SetMatchString(%q): %v", text, err)
	}
	return r
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern           string
		flags             RegexFlags
		text              string
		start, occurrence int
		want              bool
	}{
		// The original package's cases.
		{`abc+.*this st`, RegexFlags_None, "Find the abc in this string", 0, 0, true},
		{`abc+.*this st`, RegexFlags_None, "Find the abc in this here string", 0, 0, false},
		{`[a-zA-Z0-9]{5} \w{4} aab`, RegexFlags_None, "Words like aab don't exist", 0, 0, true},
		{`^[aA]bcd[eE]$`, RegexFlags_None, "abcde", 0, 0, true},
		{`^[aA]bcd[eE]$`, RegexFlags_None, "Abcde", 0, 0, true},
		{`^[aA]bcd[eE]$`, RegexFlags_None, "AbcdE", 0, 0, true},
		{`^abcde$`, RegexFlags_None, "abcde", 0, 0, true},
		{`^abcde$`, RegexFlags_None, "aBCDe", 0, 0, false},

		// Flags.
		{`^abcde$`, RegexFlags_Case_Insensitive, "aBCDe", 0, 0, true},
		{`a.c`, RegexFlags_None, "a\nc", 0, 0, false},
		{`a.c`, RegexFlags_Dot_All, "a\nc", 0, 0, true},
		{`^b$`, RegexFlags_None, "a\nb\nc", 0, 0, false},
		{`^b$`, RegexFlags_Multiline, "a\nb\nc", 0, 0, true},
		{`a.c`, RegexFlags_Literal, "abc", 0, 0, false},
		{`a.c`, RegexFlags_Literal, "a.c", 0, 0, true},
		{`a.c`, RegexFlags_Literal | RegexFlags_Case_Insensitive, "A.C", 0, 0, true},
		{`(a)\1`, RegexFlags_Literal, `x(a)\1`, 0, 0, true},
		{"a b # a comment\n c", RegexFlags_Comments, "abc", 0, 0, true},
		{`a\ b`, RegexFlags_Comments, "a b", 0, 0, true},
		{`[a b]`, RegexFlags_Comments, " ", 0, 0, false},
		{`[a\ b]`, RegexFlags_Comments, " ", 0, 0, true},
		{`a\#b`, RegexFlags_Comments, "a#b", 0, 0, true},
		{`a.c`, RegexFlags_Unix_Lines | RegexFlags_Unicode_Word | RegexFlags_Error_On_Unknown_Escapes, "abc", 0, 0, true},

		// start counts from 0 here; occurrence below 1 means 1.
		{`[a-z]`, RegexFlags_None, "a b", 0, 2, true},
		{`[a-z]`, RegexFlags_None, "a b", 0, 3, false},
		{`[a-z]`, RegexFlags_None, "a b", 1, 1, true},
		{`[a-z]`, RegexFlags_None, "a b", 1, 2, false},
		{`^a`, RegexFlags_None, "aa", 1, 1, false},
		{`a`, RegexFlags_None, "a", 2, 1, false},
		{`a`, RegexFlags_None, "a", -1, 1, true},
		{`a`, RegexFlags_None, "a", -2, 1, false},
		{`a`, RegexFlags_None, "a", 0, -5, true},
	} {
		r := prepare(t, tc.pattern, tc.flags, tc.text)
		got, err := r.Matches(context.Background(), tc.start, tc.occurrence)
		if err != nil || got != tc.want {
			t.Errorf("%q (flags %d) on %q, Matches(%d, %d) = %v, %v; want %v",
				tc.pattern, tc.flags, tc.text, tc.start, tc.occurrence, got, err, tc.want)
		}
	}
}

func TestIndexOf(t *testing.T) {
	for _, tc := range []struct {
		pattern           string
		flags             RegexFlags
		text              string
		start, occurrence int
		end               bool
		want              int
	}{
		// The original package's cases.
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 1, false, 1},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 4, 1, false, 5},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 8, 1, false, 9},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 2, false, 5},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 3, false, 9},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 4, false, 0},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 1, true, 4},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 4, 1, true, 8},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 8, 1, true, 12},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 2, true, 8},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 3, true, 12},
		{`[a-j]+`, RegexFlags_None, "abc def ghi", 1, 4, true, 0},
		{`[a-j]+`, RegexFlags_None, "klmno fghij abcde", 1, 1, false, 7},
		{`[a-j]+`, RegexFlags_None, "klmno fghij abcde", 1, 1, true, 12},

		// A search from a later position still sees the text before it.
		{`^b`, RegexFlags_None, "ab", 2, 1, false, 0},
		{`b`, RegexFlags_None, "ab", 2, 1, false, 2},
		{`\bb`, RegexFlags_None, "ab", 2, 1, false, 0},
		{`\bb`, RegexFlags_None, "a b", 3, 1, false, 3},
		{`\Bb`, RegexFlags_None, "ab", 2, 1, false, 2},
		{`^b`, RegexFlags_Multiline, "a\nb", 3, 1, false, 3},
		{`^b`, RegexFlags_Multiline, "a b", 3, 1, false, 0},
		{`[a-j]+`, RegexFlags_None, "abc def", 2, 1, false, 2},
		{`[a-j]+`, RegexFlags_None, "abc def", 2, 2, false, 5},

		// Positions count characters, not bytes.
		{`[0-9]`, RegexFlags_None, "héllo 1", 1, 1, false, 7},
		{`[0-9]`, RegexFlags_None, "héllo 1", 1, 1, true, 8},
		{`a`, RegexFlags_None, "😀a", 1, 1, false, 2},
		{`l`, RegexFlags_None, "héllo", 4, 1, false, 4},

		// Out of range starts find nothing; length+1 is in range, and 0
		// searches from the first character, as in the original.
		{`b`, RegexFlags_None, "abc", 0, 1, false, 2},
		{`a`, RegexFlags_None, "abc", -1, 1, false, 0},
		{`a`, RegexFlags_None, "abc", -3, 1, false, 0},
		{`$`, RegexFlags_None, "abc", 4, 1, false, 4},
		{`$`, RegexFlags_None, "abc", 5, 1, false, 0},
		{`x*`, RegexFlags_None, "", 1, 1, false, 1},

		// Empty matches: after one the search moves a character on, and one
		// may follow a non-empty match at its end.
		{`x*`, RegexFlags_None, "ab", 1, 1, false, 1},
		{`x*`, RegexFlags_None, "ab", 1, 2, false, 2},
		{`x*`, RegexFlags_None, "ab", 1, 3, false, 3},
		{`x*`, RegexFlags_None, "ab", 1, 4, false, 0},
		{`a*`, RegexFlags_None, "baaac", 1, 1, false, 1},
		{`a*`, RegexFlags_None, "baaac", 1, 2, false, 2},
		{`a*`, RegexFlags_None, "baaac", 1, 2, true, 5},
		{`a*`, RegexFlags_None, "baaac", 1, 3, false, 5},
		{`a*`, RegexFlags_None, "baaac", 1, 4, false, 6},
		{`a*`, RegexFlags_None, "baaac", 1, 5, false, 0},

		// Occurrences below 1 mean 1.
		{`[a-j]+`, RegexFlags_None, "abc def", 1, 0, false, 1},
		{`[a-j]+`, RegexFlags_None, "abc def", 1, -1, false, 1},

		{`B`, RegexFlags_Case_Insensitive, "abc", 1, 1, false, 2},
	} {
		r := prepare(t, tc.pattern, tc.flags, tc.text)
		got, err := r.IndexOf(context.Background(), tc.start, tc.occurrence, tc.end)
		if err != nil || got != tc.want {
			t.Errorf("%q (flags %d) on %q, IndexOf(%d, %d, %v) = %d, %v; want %d",
				tc.pattern, tc.flags, tc.text, tc.start, tc.occurrence, tc.end, got, err, tc.want)
		}
	}
}

func TestSubstring(t *testing.T) {
	const none = "(none)"
	for _, tc := range []struct {
		pattern           string
		text              string
		start, occurrence int
		want              string
	}{
		// The original package's cases.
		{`[a-z]+`, "abc def ghi", 1, 1, "abc"},
		{`[a-z]+`, "abc def ghi", 4, 1, "def"},
		{`[a-z]+`, "abc def ghi", 8, 1, "ghi"},
		{`[a-z]+`, "abc def ghi", 1, 2, "def"},
		{`[a-z]+`, "abc def ghi", 1, 3, "ghi"},
		{`[a-z]+`, "abc def ghi", 1, 4, none},
		{`[a-z]+`, "ghx dey abz", 1, 1, "ghx"},

		{`[a-z]+`, "abc def ghi", 2, 1, "bc"},
		{`[a-zö]+`, "héllo wörld", 8, 1, "örld"},
		{`w\S+`, "héllo wörld", 1, 1, "wörld"},
		{`[0-9]+`, "abc123def", 1, 1, "123"},
		{`x*`, "abc", 1, 1, ""},
		{`[a-z]+`, "abc", 5, 1, none},
		{`[a-z]+`, "abc", 0, 1, "abc"},
		{`[a-z]+`, "abc", -1, 1, none},
	} {
		r := prepare(t, tc.pattern, RegexFlags_None, tc.text)
		got, ok, err := r.Substring(context.Background(), tc.start, tc.occurrence)
		if !ok {
			got = none
		}
		if err != nil || got != tc.want {
			t.Errorf("%q on %q, Substring(%d, %d) = %q, %v; want %q",
				tc.pattern, tc.text, tc.start, tc.occurrence, got, err, tc.want)
		}
	}
}

func TestReplace(t *testing.T) {
	for _, tc := range []struct {
		pattern              string
		text                 string
		replacement          string
		position, occurrence int
		want                 string
	}{
		// The original package's cases.
		{`[a-z]+`, "abc def ghi", "X", 1, 2, "abc X ghi"},
		{`[a-z]+`, "abc def ghi", "X", 1, 3, "abc def X"},
		{`[a-z]+`, "abc def ghi", "X", 1, 0, "X X X"},

		// Position and occurrence.
		{`[a-z]+`, "abc def ghi", "X", 5, 0, "abc X X"},
		{`[a-z]+`, "abc def ghi", "X", 6, 1, "abc dX ghi"},
		{`[a-z]+`, "abc def ghi", "X", 6, 2, "abc def X"},
		{`[a-z]+`, "abc def ghi", "X", 1, 4, "abc def ghi"},
		{`[a-z]+`, "abc def ghi", "X", 1, -1, "X def ghi"},
		{`[a-z]+`, "abc def ghi", "X", 12, 0, "abc def ghi"},
		{`-`, "a-b-c", "+", 1, 0, "a+b+c"},
		{`[0-9]`, "é1é2", "#", 3, 0, "é1é#"},
		{`$`, "abc", "X", 4, 0, "abcX"},
		{`^a`, "aa", "X", 2, 0, "aa"},
		{`\ba`, "aa a", "X", 2, 0, "aa X"},

		// Empty matches, as ICU finds them.
		{`a*`, "baaac", "X", 1, 0, "XbXXcX"},
		{`x*`, "abc", "-", 1, 0, "-a-b-c-"},
		{`x*`, "abc", "-", 2, 0, "a-b-c-"},
		{`x*`, "abc", "-", 1, 2, "a-bc"},

		// ICU's replacement syntax.
		{`(\w+) (\w+)`, "hello world", "$2 $1", 1, 0, "world hello"},
		{`(\w+) (\w+)`, "hello world", "[$0]", 1, 0, "[hello world]"},
		{`(\w+) (\w+)`, "hello world", "$12", 1, 0, "hello2"},
		{`(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)`, "abcdefghijk", "$11$10", 1, 0, "kj"},
		{`(?<first>\w+) (\w+)`, "hello world", "${first}!", 1, 0, "hello!"},
		{`(?P<first>\w+) (\w+)`, "hello world", "${first}!", 1, 0, "hello!"},
		{`(\w+)`, "cost", `\$1 \\ \x`, 1, 0, `$1 \ x`},
		{`(\w+)`, "cost", `$$`, 1, 0, "(error)"},
		{`(\w+)`, "cost", `a\u00e9\U0001F600b`, 1, 0, "aé😀b"},
		{`(\w+)`, "cost", `\u0024`, 1, 0, "$"},
		{`(\w+)`, "cost", `\u12`, 1, 0, "u12"},
		{`(\w+)`, "cost", `X\`, 1, 0, "X"},
		{`(a)|b`, "b", "[$1]", 1, 0, "[]"},
		{`(\w+)`, "cost", "${", 1, 0, "(error)"},

		// Bad group references are errors, but only when there is a match.
		{`(\w+)`, "cost", "$2", 1, 0, "(error)"},
		{`(\w+)`, "cost", "$x", 1, 0, "(error)"},
		{`(\w+)`, "cost", "$", 1, 0, "(error)"},
		{`(\w+)`, "cost", "${nope}", 1, 0, "(error)"},
		{`(\w+)`, "cost", "${1}", 1, 0, "(error)"},
		{`z`, "cost", "$9", 1, 0, "cost"},

		// Positions outside 1..length+1.
		{`a`, "abc", "X", 0, 0, "(error)"},
		{`a`, "abc", "X", 5, 0, "(error)"},
		{`a`, "é", "X", 3, 0, "(error)"},
	} {
		r := prepare(t, tc.pattern, RegexFlags_None, tc.text)
		got, err := r.Replace(context.Background(), tc.replacement, tc.position, tc.occurrence)
		if err != nil {
			got = "(error)"
		}
		if got != tc.want {
			t.Errorf("%q on %q, Replace(%q, %d, %d) = %q, %v; want %q",
				tc.pattern, tc.text, tc.replacement, tc.position, tc.occurrence, got, err, tc.want)
		}
	}
}

func TestReplaceErrorKinds(t *testing.T) {
	ctx := context.Background()
	r := prepare(t, `(\w+)`, RegexFlags_None, "cost")
	if _, err := r.Replace(ctx, "$2", 1, 0); !ErrInvalidCaptureGroup.Is(err) {
		t.Errorf("Replace with $2 of 1 group: %v, want ErrInvalidCaptureGroup", err)
	}
	if _, err := r.Replace(ctx, "X", 9, 0); !ErrIndexOutOfBounds.Is(err) {
		t.Errorf("Replace at position 9 of 4 characters: %v, want ErrIndexOutOfBounds", err)
	}
}

func TestInvalidPatterns(t *testing.T) {
	ctx := context.Background()
	for _, pattern := range []string{
		`(`, `a)`, `[a`, `a**`, `x{2,1}`, `\`, `\y`,
		`a(?=b)`, `a(?!b)`, `(?<=a)b`, `(?<!a)b`, `a++`, `(?>a)`,
		`(a)\1`, `(a)\10`, `((((((((((a))))))))))\10`, `\41`,
	} {
		r := CreateRegex(0)
		err := r.SetRegexString(ctx, pattern, RegexFlags_None)
		if !ErrInvalidRegex.Is(err) {
			t.Errorf("SetRegexString(%q) = %v, want ErrInvalidRegex", pattern, err)
		}
		r.Close()
	}
}

func TestCallOrder(t *testing.T) {
	ctx := context.Background()
	wantKind := func(what string, err error, kind *errors.Kind) {
		t.Helper()
		if !kind.Is(err) {
			t.Errorf("%s: %v, want %q", what, err, kind.Message)
		}
	}
	checkAll := func(r Regex, kind *errors.Kind) {
		t.Helper()
		_, err := r.IndexOf(ctx, 1, 1, false)
		wantKind("IndexOf", err, kind)
		_, err = r.Matches(ctx, 0, 0)
		wantKind("Matches", err, kind)
		_, err = r.Replace(ctx, "X", 1, 0)
		wantKind("Replace", err, kind)
		_, _, err = r.Substring(ctx, 1, 1)
		wantKind("Substring", err, kind)
	}

	r := CreateRegex(0xFFFFFFFF)
	if n := r.StringBufferSize(); n != 0 {
		t.Errorf("StringBufferSize() = %d, want 0", n)
	}
	wantKind("SetMatchString first", r.SetMatchString(ctx, "abc"), ErrRegexNotYetSet)
	checkAll(r, ErrRegexNotYetSet)

	if err := r.SetRegexString(ctx, "b", RegexFlags_None); err != nil {
		t.Fatal(err)
	}
	checkAll(r, ErrMatchNotYetSet)
	if err := r.SetMatchString(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if i, err := r.IndexOf(ctx, 1, 1, false); i != 2 || err != nil {
		t.Errorf("IndexOf = %d, %v; want 2", i, err)
	}

	// A new pattern clears the match string; a bad one clears the pattern.
	if err := r.SetRegexString(ctx, "c", RegexFlags_None); err != nil {
		t.Fatal(err)
	}
	checkAll(r, ErrMatchNotYetSet)
	if err := r.SetRegexString(ctx, "(", RegexFlags_None); err == nil {
		t.Fatal("SetRegexString accepted (")
	}
	checkAll(r, ErrRegexNotYetSet)

	// After Close, the Regex is empty; closing again is harmless.
	if err := r.SetRegexString(ctx, "c", RegexFlags_None); err != nil {
		t.Fatal(err)
	}
	if err := r.SetMatchString(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checkAll(r, ErrRegexNotYetSet)
}

func TestSetRegexLeakHandler(t *testing.T) {
	// Accepted for go-mysql-server, never called.
	SetRegexLeakHandler(func() { t.Error("leak handler called") })
	SetRegexLeakHandler(nil)
}

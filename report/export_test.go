package report

// RunWithStdin is Run reading "-" from stdin instead of os.Stdin.
var RunWithStdin = run

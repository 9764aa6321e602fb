// Package browsertest drives the attachhttp inspector and attachment URLs
// in headless Chromium (chromedp). It is a module of its own so that
// library users never download chromedp; .ci/run runs it with
// `cd attachhttp/browsertest && go test ./...`.
//
// The browser is $ATTACHSTORE_CHROMIUM, else chromium, chromium-browser or
// google-chrome on $PATH. Without one the tests skip, except under
// CI=true, where they fail. Screenshots go to $ATTACHSTORE_TEST_OUT, else
// to attachstore-browsertest in the system's temporary directory, where they
// stay after the run.
package browsertest

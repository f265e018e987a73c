//! Compile-time behaviour of the attributes: every malformed use is an error at the user's
//! token (checked-in `.stderr` files), and a full use compiles and runs.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

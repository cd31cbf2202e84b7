use super::*;

#[test]
fn a_panic_inside_the_driver_becomes_a_message_naming_where() {
    let err = guarded::<()>(|| panic!("boom")).unwrap_err();
    assert!(
        err.starts_with("GEOMAML: internal error: boom (at "),
        "{err}"
    );
    // The place of the panic: the closure above.
    assert!(err.contains("tests.rs:5)"), "{err}");
    // Outside the driver the previous hook runs again; the flag is reset.
    assert!(!IN_DRIVER.with(|d| d.get()));
    assert_eq!(guarded(|| Ok(3)), Ok(3));
}

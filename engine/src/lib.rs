pub mod sigverify;

mod device {
    use pin_init::pin_data;

    #[pin_data]
    pub struct Device {
        pub id: u32,
        secret: u32,
    }
}

fn main() {
    let _ = pin_init::pin_init!(device::Device { id: 1, secret: 2 });
}

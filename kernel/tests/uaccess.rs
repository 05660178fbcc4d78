//! `kernel::uaccess` over the host's user memory: what a request lends the driver is readable and
//! writable through user slices, and nothing else is.

use drydock_host::uaccess::UserMemory;
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

/// Where the tests' user memory appears: an address no memory of the process is likely to have,
/// so a copy that escaped the windows would fault rather than pass.
const USER: usize = 0x7e57_0000;

fn slice(offset: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(USER + offset), len)
}

#[test]
fn readers_consume_user_memory_in_order() -> Result {
    let memory = [1u8, 0, 0, 0, 2, 0, 0, 0, 9, 8, 7];
    let _lent = UserMemory::readable(USER, &memory);
    let mut reader = slice(0, memory.len()).reader();
    assert_eq!(reader.read::<u32>()?, 1);
    let mut again = reader.clone_reader();
    assert_eq!(reader.read::<u32>()?, 2);
    assert_eq!(
        again.read::<u32>()?,
        2,
        "a cloned reader reads the same bytes"
    );
    reader.skip(1)?;
    let mut rest = [0u8; 2];
    reader.read_slice(&mut rest)?;
    assert_eq!(rest, [8, 7]);
    assert!(reader.is_empty());
    assert_eq!(reader.read::<u8>(), Err(EFAULT), "nothing is left");
    assert_eq!(reader.skip(1), Err(EFAULT));
    Ok(())
}

#[test]
fn memory_outside_the_windows_is_a_fault() {
    let memory = [0u8; 8];
    let _lent = UserMemory::readable(USER, &memory);
    // The slice claims more than the caller lent: the read fails with EFAULT.
    let mut out = [0u8; 16];
    assert_eq!(slice(0, 16).reader().read_slice(&mut out), Err(EFAULT));
    // A readable window is not writable.
    assert_eq!(slice(0, 8).writer().write_slice(&[1; 8]), Err(EFAULT));
    assert_eq!(memory, [0; 8]);
    // Once the window is gone, nothing is user memory.
    drop(_lent);
    assert_eq!(slice(0, 1).reader().read::<u8>(), Err(EFAULT));
}

#[test]
fn writers_fill_user_memory_and_stop_at_its_end() -> Result {
    let mut memory = [0u8; 8];
    {
        let _lent = UserMemory::writable(USER, &mut memory);
        let mut writer = slice(0, 8).writer();
        writer.write(&0x0102_0304u32)?;
        writer.write_slice(b"ab")?;
        assert_eq!(writer.len(), 2);
        assert_eq!(
            writer.write_slice(b"xyz"),
            Err(EFAULT),
            "longer than what is left"
        );
        assert_eq!(writer.write_slice_partial(b"hello", 3)?, 2);
        assert!(writer.is_empty());
    }
    assert_eq!(memory, [4, 3, 2, 1, b'a', b'b', b'l', b'o']);
    Ok(())
}

#[test]
fn file_positions_advance_as_simple_read_and_write_do() -> Result {
    let mut memory = [0u8; 4];
    let _lent = UserMemory::writable(USER, &mut memory);
    let data = b"0123456789";
    // A read() at position 8 of a 10-byte file copies 2 bytes and moves the position to 10.
    let mut position = 8;
    assert_eq!(
        slice(0, 4).writer().write_slice_file(data, &mut position)?,
        2
    );
    assert_eq!(position, 10);
    // At the end, nothing more.
    assert_eq!(
        slice(0, 4).writer().write_slice_file(data, &mut position)?,
        0
    );
    // A negative position is refused.
    position = -1;
    assert_eq!(
        slice(0, 4).writer().write_slice_file(data, &mut position),
        Err(EINVAL)
    );
    // A write() at position 1 of a 3-byte buffer stores what fits.
    let mut buffer = [0u8; 3];
    position = 1;
    assert_eq!(
        slice(0, 4)
            .reader()
            .read_slice_file(&mut buffer, &mut position)?,
        2
    );
    assert_eq!((buffer, position), ([0, b'8', b'9'], 3));
    Ok(())
}

#[test]
fn read_all_appends_everything_left() -> Result {
    let memory = *b"config=1";
    let _lent = UserMemory::readable(USER, &memory);
    let mut text = KVec::new();
    text.push(b'>', GFP_KERNEL)?;
    slice(0, 8).read_all(&mut text, GFP_KERNEL)?;
    assert_eq!(&text[..], b">config=1");
    Ok(())
}

#[test]
fn strings_are_copied_up_to_their_nul_and_cut_to_the_buffer() -> Result {
    let memory = *b"eth0\0junk";
    let _lent = UserMemory::readable(USER, &memory);
    let mut buf = [0x55u8; 16];
    assert_eq!(slice(0, 9).reader().strcpy_into_buf(&mut buf)?, c"eth0");
    // A buffer too small: the string is cut and terminated.
    let mut small = [0u8; 3];
    assert_eq!(slice(0, 9).reader().strcpy_into_buf(&mut small)?, c"et");
    // The reader ends before the NUL does.
    assert_eq!(slice(0, 2).reader().strcpy_into_buf(&mut buf), Err(EFAULT));
    // The string runs out of user memory before its NUL.
    assert_eq!(slice(5, 16).reader().strcpy_into_buf(&mut buf), Err(EFAULT));
    assert_eq!(slice(0, 9).reader().strcpy_into_buf(&mut []), Err(EINVAL));
    Ok(())
}

#[test]
fn pages_copy_from_user_slices_inside_their_bounds() -> Result {
    use kernel::page::{Page, PAGE_SIZE};
    let memory = [5u8, 6, 7, 8, 9];
    let _lent = UserMemory::readable(USER, &memory);
    let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
    let mut reader = slice(0, memory.len()).reader();
    let mut back = [0u8; 6];
    // SAFETY: Nothing else accesses the page; `back` is valid for 6 bytes.
    unsafe {
        page.copy_from_user_slice_raw(&mut reader, PAGE_SIZE - 4, 3)?;
        assert_eq!(reader.len(), 2, "the reader advanced by the bytes copied");
        assert_eq!(
            page.copy_from_user_slice_raw(&mut reader, PAGE_SIZE - 1, 2),
            Err(EINVAL),
            "a range past the page's end is refused"
        );
        assert_eq!(reader.len(), 2, "a refused copy reads nothing");
        assert_eq!(
            page.copy_from_user_slice_raw(&mut reader, 0, 3),
            Err(EFAULT),
            "a copy past the user slice's end faults"
        );
        page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 6, 6)?;
    }
    assert_eq!(back, [0, 0, 5, 6, 7, 0]);
    Ok(())
}

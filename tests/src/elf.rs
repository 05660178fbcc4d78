//! Just enough ELF reading for the harness: a section's bytes (a kernel module's `.modinfo`),
//! whether an executable needs a dynamic loader, and whether a kernel carries a given note
//! (the PVH entry point).
//!
//! Only 64-bit little-endian files are accepted, which is all an x86-64 guest runs.

use std::fmt;

/// Why a file could not be read as ELF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(&'static str);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a readable 64-bit little-endian ELF file ({})",
            self.0
        )
    }
}

impl std::error::Error for ElfError {}

/// A parsed ELF64 little-endian file.
pub struct Elf<'a> {
    data: &'a [u8],
}

/// Program header type of the dynamic loader's path.
pub const PT_INTERP: u32 = 3;
/// Program header type of a note segment.
pub const PT_NOTE: u32 = 4;

impl<'a> Elf<'a> {
    /// Checks the header of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        if data.len() < 64 || &data[..4] != b"\x7fELF" {
            return Err(ElfError("bad magic"));
        }
        if data[4] != 2 || data[5] != 1 {
            return Err(ElfError("not ELF64 little-endian"));
        }
        Ok(Elf { data })
    }

    fn bytes(&self, offset: u64, len: u64) -> Result<&'a [u8], ElfError> {
        let start = usize::try_from(offset).map_err(|_| ElfError("offset out of range"))?;
        let len = usize::try_from(len).map_err(|_| ElfError("length out of range"))?;
        let end = start
            .checked_add(len)
            .ok_or(ElfError("length out of range"))?;
        self.data.get(start..end).ok_or(ElfError("truncated"))
    }

    fn u16_at(&self, offset: u64) -> Result<u16, ElfError> {
        let b = self.bytes(offset, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32_at(&self, offset: u64) -> Result<u32, ElfError> {
        let b = self.bytes(offset, 4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn u64_at(&self, offset: u64) -> Result<u64, ElfError> {
        let b = self.bytes(offset, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// The contents of the first section named `name`, if there is one.
    pub fn section(&self, name: &str) -> Result<Option<&'a [u8]>, ElfError> {
        let shoff = self.u64_at(0x28)?;
        let shentsize = u64::from(self.u16_at(0x3a)?);
        let shnum = u64::from(self.u16_at(0x3c)?);
        let shstrndx = u64::from(self.u16_at(0x3e)?);
        if shnum == 0 {
            return Ok(None);
        }
        if shentsize < 64 || shstrndx >= shnum {
            return Err(ElfError("bad section header table"));
        }
        let header = |i: u64| shoff + i * shentsize;
        let names = self.bytes(
            self.u64_at(header(shstrndx) + 0x18)?,
            self.u64_at(header(shstrndx) + 0x20)?,
        )?;
        for i in 0..shnum {
            let name_offset = self.u32_at(header(i))? as usize;
            let section_name = names
                .get(name_offset..)
                .and_then(|n| n.split(|&b| b == 0).next())
                .ok_or(ElfError("bad section name"))?;
            if section_name == name.as_bytes() {
                let offset = self.u64_at(header(i) + 0x18)?;
                let size = self.u64_at(header(i) + 0x20)?;
                return self.bytes(offset, size).map(Some);
            }
        }
        Ok(None)
    }

    /// The contents of every program segment of type `kind`.
    fn segments(&self, kind: u32) -> Result<Vec<&'a [u8]>, ElfError> {
        let phoff = self.u64_at(0x20)?;
        let phentsize = u64::from(self.u16_at(0x36)?);
        let phnum = u64::from(self.u16_at(0x38)?);
        if phnum > 0 && phentsize < 56 {
            return Err(ElfError("bad program header table"));
        }
        let mut found = Vec::new();
        for i in 0..phnum {
            let header = phoff + i * phentsize;
            if self.u32_at(header)? == kind {
                found.push(self.bytes(self.u64_at(header + 0x08)?, self.u64_at(header + 0x20)?)?);
            }
        }
        Ok(found)
    }

    /// Whether the file asks for a program interpreter (a dynamic loader), i.e. is not a
    /// statically linked executable.
    pub fn needs_interpreter(&self) -> Result<bool, ElfError> {
        Ok(!self.segments(PT_INTERP)?.is_empty())
    }

    /// Whether a note segment holds a note with owner `name` and type `note_type`.
    pub fn has_note(&self, name: &str, note_type: u32) -> Result<bool, ElfError> {
        let align4 = |n: usize| n.div_ceil(4) * 4;
        for segment in self.segments(PT_NOTE)? {
            let mut rest = segment;
            while rest.len() >= 12 {
                let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4"));
                let (namesz, descsz, kind) = (word(0) as usize, word(4) as usize, word(8));
                let end = 12 + align4(namesz) + align4(descsz);
                if end > rest.len() {
                    return Err(ElfError("truncated note"));
                }
                let owner = &rest[12..12 + namesz];
                if kind == note_type && owner.strip_suffix(b"\0") == Some(name.as_bytes()) {
                    return Ok(true);
                }
                rest = &rest[end..];
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 file with the given sections and program segments.
    pub(crate) fn build_elf(sections: &[(&str, &[u8])], segments: &[(u32, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        for (name, _) in sections.iter().chain([&(".shstrtab", &[][..])]) {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let mut data = vec![0u8; 64];
        data[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let phoff = data.len();
        data.resize(phoff + 56 * segments.len(), 0);
        for (i, (kind, content)) in segments.iter().enumerate() {
            let (offset, size) = (data.len() as u64, content.len() as u64);
            data.extend_from_slice(content);
            let ph = phoff + 56 * i;
            data[ph..ph + 4].copy_from_slice(&kind.to_le_bytes());
            data[ph + 0x08..ph + 0x10].copy_from_slice(&offset.to_le_bytes());
            data[ph + 0x20..ph + 0x28].copy_from_slice(&size.to_le_bytes());
        }
        let mut placed = Vec::new();
        for (_, content) in sections.iter().chain([&("", &names[..])]) {
            placed.push((data.len() as u64, content.len() as u64));
            data.extend_from_slice(content);
        }
        let shoff = data.len() as u64;
        data.extend_from_slice(&[0u8; 64]); // section 0 is the null section
        for (i, (offset, size)) in placed.iter().enumerate() {
            let mut sh = vec![0u8; 64];
            sh[..4].copy_from_slice(&name_offsets[i].to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&offset.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            data.extend_from_slice(&sh);
        }
        let shnum = placed.len() as u16 + 1;
        data[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        data[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        data[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        data[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        data[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        data[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        data[0x3e..0x40].copy_from_slice(&(shnum - 1).to_le_bytes());
        data
    }

    /// One ELF note.
    pub(crate) fn note(name: &str, kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut note = Vec::new();
        note.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&kind.to_le_bytes());
        note.extend_from_slice(name.as_bytes());
        note.push(0);
        note.resize(note.len().div_ceil(4) * 4, 0);
        note.extend_from_slice(desc);
        note.resize(note.len().div_ceil(4) * 4, 0);
        note
    }

    #[test]
    fn finds_sections_by_name() {
        let elf = build_elf(&[(".text", b"\x90\x90"), (".modinfo", b"a=b\0")], &[]);
        let elf = Elf::parse(&elf).unwrap();
        assert_eq!(elf.section(".modinfo").unwrap(), Some(&b"a=b\0"[..]));
        assert_eq!(elf.section(".text").unwrap(), Some(&b"\x90\x90"[..]));
        assert_eq!(elf.section(".data").unwrap(), None);
    }

    #[test]
    fn tells_static_from_dynamic() {
        let dynamic = build_elf(&[], &[(PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0")]);
        let fixed = build_elf(&[], &[]);
        assert!(Elf::parse(&dynamic).unwrap().needs_interpreter().unwrap());
        assert!(!Elf::parse(&fixed).unwrap().needs_interpreter().unwrap());
    }

    #[test]
    fn finds_notes_by_owner_and_type() {
        let mut notes = note("GNU", 3, b"build-id");
        notes.extend(note("Xen", 18, &0x100_0000u32.to_le_bytes()));
        let elf = build_elf(&[], &[(PT_NOTE, &notes)]);
        let elf = Elf::parse(&elf).unwrap();
        assert!(elf.has_note("Xen", 18).unwrap());
        assert!(elf.has_note("GNU", 3).unwrap());
        assert!(!elf.has_note("Xen", 17).unwrap());
        assert!(!elf.has_note("Linux", 18).unwrap());
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(Elf::parse(b"#!/bin/sh\n").is_err());
        let mut elf = build_elf(&[(".modinfo", b"x")], &[]);
        elf.truncate(elf.len() - 100);
        assert!(Elf::parse(&elf).unwrap().section(".modinfo").is_err());
        let mut bad_note = note("Xen", 18, b"1234");
        bad_note[4] = 200; // descsz beyond the segment
        let elf = build_elf(&[], &[(PT_NOTE, &bad_note)]);
        assert!(Elf::parse(&elf).unwrap().has_note("Xen", 18).is_err());
    }

    #[test]
    fn reads_a_real_executable() {
        // This test binary is a dynamically linked executable built by rustc.
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = Elf::parse(&data).unwrap();
        assert!(elf.section(".text").unwrap().is_some());
        assert!(elf.needs_interpreter().unwrap());
    }
}

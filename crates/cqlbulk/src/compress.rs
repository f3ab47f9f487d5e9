//! Compression of CSV and JSON streams, each codec from its well-kept crate, producing files
//! the standard command-line tools (`gzip`, `zstd`, `lz4`, `bzip2`, `xz`) read.

use std::io::{self, Write};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
    Lz4,
    Bzip2,
    Xz,
}

impl Compression {
    /// The file name suffix the codec's command-line tool expects.
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gz"),
            Compression::Zstd => Some("zst"),
            Compression::Lz4 => Some("lz4"),
            Compression::Bzip2 => Some("bz2"),
            Compression::Xz => Some("xz"),
        }
    }
}

impl Compression {
    /// The codec a file's name says it is compressed with (`.gz`, `.zst`, `.lz4`, `.bz2`,
    /// `.xz`), and the name without that suffix.
    pub fn from_file_name(name: &str) -> (Compression, &str) {
        for codec in
            [Compression::Gzip, Compression::Zstd, Compression::Lz4, Compression::Bzip2, Compression::Xz]
        {
            let suffix = codec.extension().expect("codecs have a suffix");
            if let Some(stem) = name.strip_suffix(suffix).and_then(|s| s.strip_suffix('.')) {
                return (codec, stem);
            }
        }
        (Compression::None, name)
    }

    /// A reader that decompresses `input` with this codec. Multi-member gzip and bzip2
    /// streams (as `cat a.gz b.gz` makes) are read to the end.
    pub fn decoder<R: io::Read + Send + 'static>(self, input: R) -> io::Result<Box<dyn io::Read + Send>> {
        let input = io::BufReader::new(input);
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Zstd => Box::new(zstd::Decoder::with_buffer(input)?),
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        })
    }
}

/// A writer that compresses with one codec, or passes bytes through.
pub enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
    Bzip2(bzip2::write::BzEncoder<W>),
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, compression: Compression) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::None => Encoder::Plain(out),
            Compression::Gzip => {
                Encoder::Gzip(flate2::write::GzEncoder::new(out, flate2::Compression::default()))
            }
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(out, 3)?),
            Compression::Lz4 => Encoder::Lz4(lz4_flex::frame::FrameEncoder::new(out)),
            Compression::Bzip2 => {
                Encoder::Bzip2(bzip2::write::BzEncoder::new(out, bzip2::Compression::default()))
            }
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(out, 6)),
        })
    }

    /// Writes the codec's trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Lz4(e) => e.finish().map_err(io::Error::other),
            Encoder::Bzip2(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Lz4(e) => e.write(buf),
            Encoder::Bzip2(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Lz4(e) => e.flush(),
            Encoder::Bzip2(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}

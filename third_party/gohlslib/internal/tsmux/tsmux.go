// Package tsmux is the MPEG-TS writer of mediacommon v2.9.4 (unchanged in v2.9.5)
// (pkg/formats/mpegts, MIT, see ../../LICENSE's neighbour in mediacommon),
// cut down to what gohlslib's muxer writes (H.264, MPEG-4 Audio, KLV) and
// given one more track: ID3 timed metadata as Apple's "Timed Metadata for
// HTTP Live Streaming" and IVS's streams carry it (stream_type 0x15 with a
// metadata_descriptor for 'ID3 ', PES private_stream_1 with a PTS).
// mediacommon's codecs are sealed, so the ID3 track could not be added
// from outside. onair: change 6 in ../../ONAIR.md.
package tsmux

import (
	"context"
	"fmt"
	"io"

	"github.com/asticode/go-astits"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/substructs"
)

const (
	streamIDVideo    = 224
	streamIDAudio    = 192
	streamIDMetadata = 0xFC
	streamIDPrivate  = 0xBD

	// PCR is needed to read H265 tracks with VLC+VDPAU hardware encoder
	// (and is probably needed by other combinations too)
	dtsPCRDiff = (90000 / 10)

	klvaIdentifier = 'K'<<24 | 'L'<<16 | 'V'<<8 | 'A'
	id3Identifier  = 'I'<<24 | 'D'<<16 | '3'<<8 | ' '

	// MISB ST 1402, Table 4
	metadataApplicationFormatGeneral = 0x0100
	// ISO 13818-1, table 2-82: the format is named by an identifier.
	metadataFormatIdentified = 0xFFFF
)

// Track is a MPEG-TS track: Codec, or (ID3 set) timed metadata.
type Track struct {
	PID   uint16
	Codec codecs.Codec
	// ID3: the track carries ID3 tags (Writer.WriteID3); Codec is nil.
	ID3 bool

	isLeading bool
}

func metadataDescriptors(appFormat uint16, appIdentifier, formatIdentifier uint32) ([]*astits.Descriptor, error) {
	metadataDesc, err := substructs.MetadataDescriptor{
		MetadataApplicationFormat:           appFormat,
		MetadataApplicationFormatIdentifier: appIdentifier,
		MetadataFormat:                      0xFF,
		MetadataFormatIdentifier:            formatIdentifier,
	}.Marshal()
	if err != nil {
		return nil, err
	}
	metadataSTDDesc, err := substructs.MetadataSTDDescriptor{}.Marshal()
	if err != nil {
		return nil, err
	}
	return []*astits.Descriptor{
		// Length must be different than zero (go-astits).
		{Length: 1, Tag: substructs.DescriptorTagMetadata, Unknown: &astits.DescriptorUnknown{Content: metadataDesc}},
		{Length: 1, Tag: substructs.DescriptorTagMetadataSTD, Unknown: &astits.DescriptorUnknown{Content: metadataSTDDesc}},
	}, nil
}

func (t Track) marshal() (*astits.PMTElementaryStream, error) {
	if t.ID3 {
		descs, err := metadataDescriptors(metadataFormatIdentified, id3Identifier, id3Identifier)
		if err != nil {
			return nil, err
		}
		return &astits.PMTElementaryStream{ElementaryPID: t.PID, StreamType: astits.StreamTypeMetadata,
			ElementaryStreamDescriptors: descs}, nil
	}
	switch c := t.Codec.(type) {
	case *codecs.H264:
		return &astits.PMTElementaryStream{ElementaryPID: t.PID, StreamType: astits.StreamTypeH264Video}, nil
	case *codecs.MPEG4Audio:
		return &astits.PMTElementaryStream{ElementaryPID: t.PID, StreamType: astits.StreamTypeAACAudio}, nil
	case *codecs.KLV:
		if c.Synchronous {
			descs, err := metadataDescriptors(metadataApplicationFormatGeneral, 0, klvaIdentifier)
			if err != nil {
				return nil, err
			}
			return &astits.PMTElementaryStream{ElementaryPID: t.PID, StreamType: astits.StreamTypeMetadata,
				ElementaryStreamDescriptors: descs}, nil
		}
		return &astits.PMTElementaryStream{ElementaryPID: t.PID, StreamType: astits.StreamTypePrivateData,
			ElementaryStreamDescriptors: []*astits.Descriptor{{Length: 1, Tag: astits.DescriptorTagRegistration,
				Registration: &astits.DescriptorRegistration{FormatIdentifier: klvaIdentifier}}}}, nil
	}
	return nil, fmt.Errorf("tsmux: unsupported codec %T", t.Codec)
}

// Writer is a MPEG-TS writer.
type Writer struct {
	W      io.Writer
	Tracks []*Track

	nextPID            uint16
	mux                *astits.Muxer
	pcrCounter         int
	leadingTrackChosen bool
}

// Initialize initializes a Writer.
func (w *Writer) Initialize() error {
	w.nextPID = 256
	w.mux = astits.NewMuxer(context.Background(), w.W)
	for _, track := range w.Tracks {
		if track.PID == 0 {
			track.PID = w.nextPID
			w.nextPID++
		}
		es, err := track.marshal()
		if err != nil {
			return err
		}
		if err := w.mux.AddElementaryStream(*es); err != nil {
			return err
		}
	}
	return nil
}

// WriteH264 writes a H264 access unit.
func (w *Writer) WriteH264(track *Track, pts int64, dts int64, au [][]byte) error {
	// prepend an AUD. This is required by video.js, iOS, QuickTime
	if au[0][0] != byte(h264.NALUTypeAccessUnitDelimiter) {
		au = append([][]byte{
			{byte(h264.NALUTypeAccessUnitDelimiter), 240},
		}, au...)
	}
	enc, err := h264.AnnexB(au).Marshal()
	if err != nil {
		return err
	}
	return w.writeVideo(track, pts, dts, h264.IsRandomAccess(au), enc)
}

// WriteMPEG4Audio writes MPEG-4 Audio access units.
func (w *Writer) WriteMPEG4Audio(track *Track, pts int64, aus [][]byte) error {
	codec := track.Codec.(*codecs.MPEG4Audio)
	pkts := make(mpeg4audio.ADTSPackets, len(aus))
	for i, au := range aus {
		pkts[i] = &mpeg4audio.ADTSPacket{
			Type:          codec.Type,
			SampleRate:    codec.SampleRate,
			ChannelConfig: codec.ChannelConfig,
			ChannelCount:  codec.ChannelCount, //nolint:staticcheck
			AU:            au,
		}
	}
	enc, err := pkts.Marshal()
	if err != nil {
		return err
	}
	return w.writeAudio(track, pts, enc)
}

// WriteKLV writes a KLV unit.
func (w *Writer) WriteKLV(track *Track, pts int64, unit []byte) error {
	if track.Codec.(*codecs.KLV).Synchronous {
		out, err := writeMetadataAUWrapper(unit)
		if err != nil {
			return err
		}
		return w.writeData(track, true, pts, streamIDMetadata, out)
	}
	return w.writeData(track, false, 0, streamIDPrivate, unit)
}

// WriteID3 writes an ID3 tag, presented at pts (90 kHz).
func (w *Writer) WriteID3(track *Track, pts int64, tag []byte) error {
	return w.writeData(track, true, pts, streamIDPrivate, tag)
}

func (w *Writer) chooseLeading(track *Track) {
	if !w.leadingTrackChosen {
		w.leadingTrackChosen = true
		track.isLeading = true
		w.mux.SetPCRPID(track.PID)
	}
}

func (w *Writer) writeVideo(track *Track, pts int64, dts int64, randomAccess bool, data []byte) error {
	w.chooseLeading(track)
	var af *astits.PacketAdaptationField
	if randomAccess {
		af = &astits.PacketAdaptationField{}
		af.RandomAccessIndicator = true
	}
	if track.isLeading {
		if randomAccess || w.pcrCounter == 0 {
			if af == nil {
				af = &astits.PacketAdaptationField{}
			}
			af.HasPCR = true
			af.PCR = &astits.ClockReference{Base: dts - dtsPCRDiff}
			w.pcrCounter = 3
		}
		w.pcrCounter--
	}
	oh := &astits.PESOptionalHeader{MarkerBits: 2}
	if dts == pts {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorOnlyPTS
		oh.PTS = &astits.ClockReference{Base: pts}
	} else {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorBothPresent
		oh.DTS = &astits.ClockReference{Base: dts}
		oh.PTS = &astits.ClockReference{Base: pts}
	}
	_, err := w.mux.WriteData(&astits.MuxerData{
		PID:             track.PID,
		AdaptationField: af,
		PES: &astits.PESData{
			Header: &astits.PESHeader{OptionalHeader: oh, StreamID: streamIDVideo},
			Data:   data,
		},
	})
	return err
}

func (w *Writer) writeAudio(track *Track, pts int64, data []byte) error {
	return w.writeData(track, true, pts, streamIDAudio, data)
}

func (w *Writer) writeData(track *Track, hasPTS bool, pts int64, streamID uint8, data []byte) error {
	w.chooseLeading(track)
	af := &astits.PacketAdaptationField{RandomAccessIndicator: true}
	if track.isLeading {
		if w.pcrCounter == 0 {
			af.HasPCR = true
			af.PCR = &astits.ClockReference{Base: pts - dtsPCRDiff}
			w.pcrCounter = 3
		}
		w.pcrCounter--
	}
	oh := &astits.PESOptionalHeader{MarkerBits: 2}
	if hasPTS {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorOnlyPTS
		oh.PTS = &astits.ClockReference{Base: pts}
	}
	if streamID == streamIDPrivate && hasPTS {
		// ID3: each PES holds one whole tag.
		oh.DataAlignmentIndicator = true
	}
	_, err := w.mux.WriteData(&astits.MuxerData{
		PID:             track.PID,
		AdaptationField: af,
		PES: &astits.PESData{
			Header: &astits.PESHeader{StreamID: streamID, OptionalHeader: oh},
			Data:   data,
		},
	})
	return err
}

// writeMetadataAUWrapper wraps a KLV unit in metadata AU cells (ISO
// 13818-1, 2.12.4), as mediacommon does.
func writeMetadataAUWrapper(in []byte) ([]byte, error) {
	const maxDataPerCell = 65535
	dataLen := len(in)
	cellCount := dataLen / maxDataPerCell
	if (dataLen % maxDataPerCell) != 0 {
		cellCount++
	}
	out := make([]byte, 5*cellCount+dataLen)
	n := 0
	for i := range cellCount {
		cellDataLen := min(maxDataPerCell, len(in))
		cellData := in[:cellDataLen]
		in = in[cellDataLen:]
		var fragmentIndication uint8
		switch {
		case cellCount == 1:
			fragmentIndication = 0b11
		case i == 0:
			fragmentIndication = 0b10
		case i == cellCount-1:
			fragmentIndication = 0b01
		default:
			fragmentIndication = 0b00
		}
		n2, err := substructs.MetadataAUCell{
			SequenceNumber:         uint8(i),
			CellFragmentIndication: fragmentIndication,
			RandomAccessIndicator:  true,
			AUCellData:             cellData,
		}.MarshalTo(out[n:])
		if err != nil {
			return nil, err
		}
		n += n2
	}
	return out, nil
}

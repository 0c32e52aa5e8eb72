package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	chatsdk "github.com/aws/aws-sdk-go-v2/service/ivschat"
	chattypes "github.com/aws/aws-sdk-go-v2/service/ivschat/types"
)

func (e *env) chat() *chatsdk.Client {
	return chatsdk.New(chatsdk.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(e.account.AccessKeyID, e.account.SecretAccessKey.Reveal(), ""),
	})
}

// Rooms through the ivschat SDK: create with defaults and with every
// setting, get, update (a review handler detached by an empty uri), list
// with filters and pages, tags, delete; errors in IVS Chat's shape.
func TestChatRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.chat()
	ctx := t.Context()

	def, err := c.CreateRoom(ctx, &chatsdk.CreateRoomInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(def.Arn), "arn:aws:ivschat:"+testRegion+":"+e.account.ID+":room/") || len(aws.ToString(def.Id)) != 12 ||
		aws.ToInt32(def.MaximumMessageLength) != 500 || aws.ToInt32(def.MaximumMessageRatePerSecond) != 10 ||
		def.CreateTime == nil || def.UpdateTime == nil || def.Tags == nil || def.LoggingConfigurationIdentifiers == nil {
		t.Fatalf("CreateRoom defaults: %+v", def)
	}

	lc, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{Name: aws.String("log"),
		DestinationConfiguration: &chattypes.DestinationConfigurationMemberS3{Value: chattypes.S3DestinationConfiguration{BucketName: aws.String("chat-logs")}}})
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.CreateRoom(ctx, &chatsdk.CreateRoomInput{Name: aws.String("lobby"), MaximumMessageLength: aws.Int32(100),
		MaximumMessageRatePerSecond: aws.Int32(2), Tags: map[string]string{"team": "a"},
		MessageReviewHandler:            &chattypes.MessageReviewHandler{Uri: aws.String("https://review.example/hook"), FallbackResult: chattypes.FallbackResultDeny},
		LoggingConfigurationIdentifiers: []string{aws.ToString(lc.Arn)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRoom(ctx, &chatsdk.GetRoomInput{Identifier: full.Arn})
	if err != nil || aws.ToString(got.Name) != "lobby" || aws.ToInt32(got.MaximumMessageLength) != 100 ||
		got.MessageReviewHandler == nil || aws.ToString(got.MessageReviewHandler.Uri) != "https://review.example/hook" ||
		got.MessageReviewHandler.FallbackResult != chattypes.FallbackResultDeny || got.Tags["team"] != "a" ||
		len(got.LoggingConfigurationIdentifiers) != 1 {
		t.Fatalf("GetRoom: %+v, %v", got, err)
	}
	// UpdateTime must come after CreateTime at the wire's millisecond
	// precision: wait for the clock to pass it.
	for time.Since(*got.CreateTime) < 2*time.Millisecond {
		time.Sleep(time.Millisecond)
	}
	up, err := c.UpdateRoom(ctx, &chatsdk.UpdateRoomInput{Identifier: full.Arn, MaximumMessageRatePerSecond: aws.Int32(5),
		MessageReviewHandler: &chattypes.MessageReviewHandler{Uri: aws.String("")}})
	if err != nil || aws.ToInt32(up.MaximumMessageRatePerSecond) != 5 || aws.ToInt32(up.MaximumMessageLength) != 100 ||
		up.MessageReviewHandler != nil || !up.UpdateTime.After(*up.CreateTime) {
		t.Fatalf("UpdateRoom: %+v, %v", up, err)
	}

	// Most recently updated first; filters; pages.
	list, err := c.ListRooms(ctx, &chatsdk.ListRoomsInput{})
	if err != nil || len(list.Rooms) != 2 || aws.ToString(list.Rooms[0].Arn) != aws.ToString(full.Arn) {
		t.Fatalf("ListRooms: %+v, %v", list, err)
	}
	for name, in := range map[string]*chatsdk.ListRoomsInput{
		"name":    {Name: aws.String("lobby")},
		"logging": {LoggingConfigurationIdentifier: lc.Arn},
	} {
		l, err := c.ListRooms(ctx, in)
		if err != nil || len(l.Rooms) != 1 || aws.ToString(l.Rooms[0].Arn) != aws.ToString(full.Arn) {
			t.Errorf("ListRooms by %s: %+v, %v", name, l, err)
		}
	}
	p1, err := c.ListRooms(ctx, &chatsdk.ListRoomsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(p1.Rooms) != 1 || p1.NextToken == nil {
		t.Fatalf("page 1: %+v, %v", p1, err)
	}
	p2, err := c.ListRooms(ctx, &chatsdk.ListRoomsInput{MaxResults: aws.Int32(1), NextToken: p1.NextToken})
	if err != nil || len(p2.Rooms) != 1 || p2.NextToken != nil || aws.ToString(p2.Rooms[0].Arn) != aws.ToString(def.Arn) {
		t.Fatalf("page 2: %+v, %v", p2, err)
	}

	// Tags on chat ARNs go through the same paths, signed for ivschat.
	if _, err := c.TagResource(ctx, &chatsdk.TagResourceInput{ResourceArn: def.Arn, Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &chatsdk.ListTagsForResourceInput{ResourceArn: def.Arn})
	if err != nil || tags.Tags["k"] != "v" {
		t.Fatalf("ListTagsForResource: %+v, %v", tags, err)
	}
	if _, err := c.UntagResource(ctx, &chatsdk.UntagResourceInput{ResourceArn: def.Arn, TagKeys: []string{"k"}}); err != nil {
		t.Fatal(err)
	}

	// Errors: IVS Chat's shapes, decoded by the SDK.
	var ve *chattypes.ValidationException
	_, err = c.CreateRoom(ctx, &chatsdk.CreateRoomInput{MaximumMessageLength: aws.Int32(501)})
	if !errors.As(err, &ve) || ve.Reason != chattypes.ValidationExceptionReasonFieldValidationFailed ||
		len(ve.FieldList) != 1 || aws.ToString(ve.FieldList[0].Name) != "maximumMessageLength" {
		t.Errorf("maximumMessageLength 501: %v", err)
	}
	_, err = c.CreateRoom(ctx, &chatsdk.CreateRoomInput{MessageReviewHandler: &chattypes.MessageReviewHandler{
		Uri: aws.String("arn:aws:lambda:us-east-1:123456789012:function:review")}})
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "Lambda") {
		t.Errorf("a Lambda review handler: %v", err)
	}
	var nf *chattypes.ResourceNotFoundException
	missing := strings.Replace(aws.ToString(def.Arn), aws.ToString(def.Id), "abcdABCDefgh", 1)
	if _, err := c.GetRoom(ctx, &chatsdk.GetRoomInput{Identifier: aws.String(missing)}); !errors.As(err, &nf) {
		t.Errorf("GetRoom of a missing room: %v", err)
	}
	var conflict *chattypes.ConflictException
	if _, err := c.DeleteLoggingConfiguration(ctx, &chatsdk.DeleteLoggingConfigurationInput{Identifier: lc.Arn}); !errors.As(err, &conflict) ||
		aws.ToString(conflict.ResourceId) != aws.ToString(lc.Id) {
		t.Errorf("deleting a logging configuration in use: %v", err)
	}
	// An IVS client cannot sign for chat, nor chat for IVS.
	if _, err := e.client.GetChannel(ctx, &sdk.GetChannelInput{Arn: def.Arn}); err == nil {
		t.Errorf("GetChannel of a room ARN answered")
	}

	for _, r := range []*string{def.Arn, full.Arn} {
		if _, err := c.DeleteRoom(ctx, &chatsdk.DeleteRoomInput{Identifier: r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetRoom(ctx, &chatsdk.GetRoomInput{Identifier: def.Arn}); !errors.As(err, &nf) {
		t.Errorf("GetRoom after DeleteRoom: %v", err)
	}
	if _, err := c.DeleteLoggingConfiguration(ctx, &chatsdk.DeleteLoggingConfigurationInput{Identifier: lc.Arn}); err != nil {
		t.Errorf("DeleteLoggingConfiguration once unused: %v", err)
	}
}

// Logging configurations through the ivschat SDK: S3 only (onair cannot
// reach CloudWatch or Firehose), get, update, list, the quota of 10.
func TestChatLoggingConfigurations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.chat()
	ctx := t.Context()
	s3 := func(b string) chattypes.DestinationConfiguration {
		return &chattypes.DestinationConfigurationMemberS3{Value: chattypes.S3DestinationConfiguration{BucketName: aws.String(b)}}
	}
	var ve *chattypes.ValidationException
	_, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{DestinationConfiguration: &chattypes.DestinationConfigurationMemberCloudWatchLogs{
		Value: chattypes.CloudWatchLogsDestinationConfiguration{LogGroupName: aws.String("g")}}})
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "cloudWatchLogs") {
		t.Errorf("CloudWatch Logs destination: %v", err)
	}
	if _, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{DestinationConfiguration: s3("No_Such")}); !errors.As(err, &ve) {
		t.Errorf("bad bucket name: %v", err)
	}
	l, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{Name: aws.String("a"), DestinationConfiguration: s3("logs-a"),
		Tags: map[string]string{"x": "y"}})
	if err != nil || l.State != chattypes.CreateLoggingConfigurationStateActive || aws.ToString(l.Name) != "a" || l.Tags["x"] != "y" {
		t.Fatalf("CreateLoggingConfiguration: %+v, %v", l, err)
	}
	g, err := c.GetLoggingConfiguration(ctx, &chatsdk.GetLoggingConfigurationInput{Identifier: l.Arn})
	if err != nil || g.State != chattypes.LoggingConfigurationStateActive {
		t.Fatalf("GetLoggingConfiguration: %+v, %v", g, err)
	}
	if d, ok := g.DestinationConfiguration.(*chattypes.DestinationConfigurationMemberS3); !ok || aws.ToString(d.Value.BucketName) != "logs-a" {
		t.Fatalf("destination %#v", g.DestinationConfiguration)
	}
	u, err := c.UpdateLoggingConfiguration(ctx, &chatsdk.UpdateLoggingConfigurationInput{Identifier: l.Arn, DestinationConfiguration: s3("logs-b")})
	if err != nil || aws.ToString(u.Name) != "a" {
		t.Fatalf("UpdateLoggingConfiguration: %+v, %v", u, err)
	}
	for i := 1; i < 10; i++ {
		if _, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{DestinationConfiguration: s3("logs-a")}); err != nil {
			t.Fatal(err)
		}
	}
	var quota *chattypes.ServiceQuotaExceededException
	if _, err := c.CreateLoggingConfiguration(ctx, &chatsdk.CreateLoggingConfigurationInput{DestinationConfiguration: s3("logs-a")}); !errors.As(err, &quota) ||
		quota.Limit != 10 {
		t.Errorf("the 11th: %v", err)
	}
	p1, err := c.ListLoggingConfigurations(ctx, &chatsdk.ListLoggingConfigurationsInput{MaxResults: aws.Int32(6)})
	if err != nil || len(p1.LoggingConfigurations) != 6 || p1.NextToken == nil {
		t.Fatalf("page 1: %+v, %v", p1, err)
	}
	p2, err := c.ListLoggingConfigurations(ctx, &chatsdk.ListLoggingConfigurationsInput{MaxResults: aws.Int32(6), NextToken: p1.NextToken})
	if err != nil || len(p2.LoggingConfigurations) != 4 || p2.NextToken != nil {
		t.Fatalf("page 2: %+v, %v", p2, err)
	}
}

// CreateChatToken through the SDK: a token and its expiry times; errors.
func TestCreateChatToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.chat()
	ctx := t.Context()
	room, err := c.CreateRoom(ctx, &chatsdk.CreateRoomInput{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateChatToken(ctx, &chatsdk.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String("ana"),
		Capabilities: []chattypes.ChatTokenCapability{chattypes.ChatTokenCapabilitySendMessage}, SessionDurationInMinutes: aws.Int32(10),
		Attributes: map[string]string{"color": "blue"}})
	if err != nil || aws.ToString(tok.Token) == "" || tok.SessionExpirationTime == nil || tok.TokenExpirationTime == nil ||
		time.Until(*tok.SessionExpirationTime) > 10*time.Minute || time.Until(*tok.SessionExpirationTime) < 9*time.Minute {
		t.Fatalf("CreateChatToken: %+v, %v", tok, err)
	}
	claims, err := e.chatSvc.OpenChatToken(ctx, aws.ToString(tok.Token))
	if err != nil || claims.UserID != "ana" || !claims.Can("SEND_MESSAGE") {
		t.Fatalf("the token opens to %+v, %v", claims, err)
	}
	var ve *chattypes.ValidationException
	if _, err := c.CreateChatToken(ctx, &chatsdk.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String("u"),
		SessionDurationInMinutes: aws.Int32(181)}); !errors.As(err, &ve) || aws.ToString(ve.FieldList[0].Name) != "sessionDurationInMinutes" {
		t.Errorf("sessionDurationInMinutes 181: %v", err)
	}
	var nf *chattypes.ResourceNotFoundException
	if _, err := c.DeleteRoom(ctx, &chatsdk.DeleteRoomInput{Identifier: room.Arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateChatToken(ctx, &chatsdk.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String("u")}); !errors.As(err, &nf) {
		t.Errorf("a token for a deleted room: %v", err)
	}
}

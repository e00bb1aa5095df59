// Every operation the app sends. Each screen is one request: the inbox page carries all a row
// shows, the conversation query all its view shows, and mutations return the conversation as
// a row needs it, so the list updates from their answers without asking again.
import { graphql } from "./gql";

export const ConversationRowFields = graphql(`
  fragment ConversationRowFields on Conversation {
    id
    externalId
    channel
    subject
    isGroup
    lastMessageAt
    lastMessagePreview
    unreadCount
    hasAttachments
    canLink
    source
    account {
      id
      name
      provider
    }
    participants {
      identifier
      displayName
      isSelf
      role
      phoneNumber
      crmMatch {
        contact {
          id
          name
        }
        company {
          id
          name
        }
        method
        confidence
        ambiguous
      }
    }
    storage {
      stored
      shouldStore
      reason
      storedAt
    }
    links {
      id
      target {
        id
        kind
        name
      }
      source
      rule
    }
  }
`);

export const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      user {
        id
        email
        name
      }
      workspace {
        id
        name
      }
    }
    accounts {
      ...AccountFields
    }
  }
`);

export const AccountFields = graphql(`
  fragment AccountFields on Account {
    id
    name
    channel
    provider
    status
    lastError
  }
`);

export const InboxQuery = graphql(`
  query Inbox($first: Int!, $after: String, $filter: ConversationFilter) {
    conversations(first: $first, after: $after, filter: $filter) {
      edges {
        node {
          ...ConversationRowFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const ConversationQuery = graphql(`
  query Conversation($id: ID!, $after: String) {
    conversation(id: $id) {
      ...ConversationRowFields
      messages(first: 30, after: $after) {
        edges {
          node {
            id
            direction
            text
            html
            sentAt
            isRead
            sender {
              identifier
              displayName
              isSelf
            }
            recipients {
              identifier
              displayName
              role
            }
            attachments {
              name
              size
              mimeType
            }
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const SearchCrmQuery = graphql(`
  query SearchCrm($search: String) {
    contacts(first: 10, search: $search) {
      edges {
        node {
          id
          name
          company {
            name
          }
          emails {
            value
          }
        }
      }
    }
    companies(first: 10, search: $search) {
      edges {
        node {
          id
          name
          domains
        }
      }
    }
  }
`);

export const MutationErrorFields = graphql(`
  fragment MutationErrorFields on MutationError {
    code
    message
    field
  }
`);

export const LinkConversationMutation = graphql(`
  mutation LinkConversation($input: LinkConversationInput!) {
    linkConversation(input: $input) {
      conversation {
        ...ConversationRowFields
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const UnlinkConversationMutation = graphql(`
  mutation UnlinkConversation($input: LinkConversationInput!) {
    unlinkConversation(input: $input) {
      conversation {
        ...ConversationRowFields
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const StoreConversationMutation = graphql(`
  mutation StoreConversation($input: ConversationInput!) {
    storeConversation(input: $input) {
      messagesAdded
      conversation {
        ...ConversationRowFields
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const StoreConversationsMutation = graphql(`
  mutation StoreConversations($input: ConversationsInput!) {
    storeConversations(input: $input) {
      results {
        conversationId
        messagesAdded
        conversation {
          ...ConversationRowFields
        }
        error {
          ...MutationErrorFields
        }
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const LinkConversationsMutation = graphql(`
  mutation LinkConversations($input: LinkConversationsInput!) {
    linkConversations(input: $input) {
      results {
        conversationId
        conversation {
          ...ConversationRowFields
        }
        error {
          ...MutationErrorFields
        }
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const ForgetConversationMutation = graphql(`
  mutation ForgetConversation($input: ForgetConversationInput!) {
    forgetConversation(input: $input) {
      forgotten
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const CreateContactFromParticipantMutation = graphql(`
  mutation CreateContactFromParticipant($input: CreateContactFromParticipantInput!) {
    createContactFromParticipant(input: $input) {
      contact {
        id
        name
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const SendMessageMutation = graphql(`
  mutation SendMessage($input: SendMessageInput!) {
    sendMessage(input: $input) {
      message {
        id
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const ReplyToConversationMutation = graphql(`
  mutation ReplyToConversation($input: ReplyToConversationInput!) {
    replyToConversation(input: $input) {
      message {
        id
      }
      error {
        ...MutationErrorFields
      }
    }
  }
`);

export const MessageReceivedSubscription = graphql(`
  subscription MessageReceived {
    messageReceived {
      message {
        id
      }
      conversation {
        ...ConversationRowFields
      }
    }
  }
`);

export const ConversationUpdatedSubscription = graphql(`
  subscription ConversationUpdated {
    conversationUpdated {
      conversationId
      change
      conversation {
        ...ConversationRowFields
      }
    }
  }
`);

export const AccountStatusSubscription = graphql(`
  subscription AccountStatusChanged {
    accountStatusChanged {
      ...AccountFields
    }
  }
`);

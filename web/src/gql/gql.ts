/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment ConversationRowFields on Conversation {\n    id\n    externalId\n    channel\n    subject\n    isGroup\n    lastMessageAt\n    lastMessagePreview\n    unreadCount\n    hasAttachments\n    canLink\n    source\n    account {\n      id\n      name\n      provider\n    }\n    participants {\n      identifier\n      displayName\n      isSelf\n      role\n      phoneNumber\n      crmMatch {\n        contact {\n          id\n          name\n        }\n        company {\n          id\n          name\n        }\n        method\n        confidence\n        ambiguous\n      }\n    }\n    storage {\n      stored\n      shouldStore\n      reason\n      storedAt\n    }\n    links {\n      id\n      target {\n        id\n        kind\n        name\n      }\n      source\n      rule\n    }\n  }\n": typeof types.ConversationRowFieldsFragmentDoc,
    "\n  query Viewer {\n    viewer {\n      user {\n        id\n        email\n        name\n      }\n      workspace {\n        id\n        name\n      }\n    }\n    accounts {\n      ...AccountFields\n    }\n  }\n": typeof types.ViewerDocument,
    "\n  fragment AccountFields on Account {\n    id\n    name\n    channel\n    provider\n    status\n    lastError\n  }\n": typeof types.AccountFieldsFragmentDoc,
    "\n  query Inbox($first: Int!, $after: String, $filter: ConversationFilter) {\n    conversations(first: $first, after: $after, filter: $filter) {\n      edges {\n        node {\n          ...ConversationRowFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.InboxDocument,
    "\n  query Conversation($id: ID!, $after: String) {\n    conversation(id: $id) {\n      ...ConversationRowFields\n      messages(first: 30, after: $after) {\n        edges {\n          node {\n            id\n            direction\n            text\n            html\n            sentAt\n            isRead\n            sender {\n              identifier\n              displayName\n              isSelf\n            }\n            recipients {\n              identifier\n              displayName\n              role\n            }\n            attachments {\n              name\n              size\n              mimeType\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.ConversationDocument,
    "\n  query SearchCrm($search: String) {\n    contacts(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          company {\n            name\n          }\n          emails {\n            value\n          }\n        }\n      }\n    }\n    companies(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          domains\n        }\n      }\n    }\n  }\n": typeof types.SearchCrmDocument,
    "\n  fragment MutationErrorFields on MutationError {\n    code\n    message\n    field\n  }\n": typeof types.MutationErrorFieldsFragmentDoc,
    "\n  mutation LinkConversation($input: LinkConversationInput!) {\n    linkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.LinkConversationDocument,
    "\n  mutation UnlinkConversation($input: LinkConversationInput!) {\n    unlinkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.UnlinkConversationDocument,
    "\n  mutation StoreConversation($input: ConversationInput!) {\n    storeConversation(input: $input) {\n      messagesAdded\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.StoreConversationDocument,
    "\n  mutation StoreConversations($input: ConversationsInput!) {\n    storeConversations(input: $input) {\n      results {\n        conversationId\n        messagesAdded\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.StoreConversationsDocument,
    "\n  mutation LinkConversations($input: LinkConversationsInput!) {\n    linkConversations(input: $input) {\n      results {\n        conversationId\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.LinkConversationsDocument,
    "\n  mutation ForgetConversation($input: ForgetConversationInput!) {\n    forgetConversation(input: $input) {\n      forgotten\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.ForgetConversationDocument,
    "\n  mutation CreateContactFromParticipant($input: CreateContactFromParticipantInput!) {\n    createContactFromParticipant(input: $input) {\n      contact {\n        id\n        name\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.CreateContactFromParticipantDocument,
    "\n  mutation SendMessage($input: SendMessageInput!) {\n    sendMessage(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.SendMessageDocument,
    "\n  mutation ReplyToConversation($input: ReplyToConversationInput!) {\n    replyToConversation(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": typeof types.ReplyToConversationDocument,
    "\n  subscription MessageReceived {\n    messageReceived {\n      message {\n        id\n      }\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n": typeof types.MessageReceivedDocument,
    "\n  subscription ConversationUpdated {\n    conversationUpdated {\n      conversationId\n      change\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n": typeof types.ConversationUpdatedDocument,
    "\n  subscription AccountStatusChanged {\n    accountStatusChanged {\n      ...AccountFields\n    }\n  }\n": typeof types.AccountStatusChangedDocument,
};
const documents: Documents = {
    "\n  fragment ConversationRowFields on Conversation {\n    id\n    externalId\n    channel\n    subject\n    isGroup\n    lastMessageAt\n    lastMessagePreview\n    unreadCount\n    hasAttachments\n    canLink\n    source\n    account {\n      id\n      name\n      provider\n    }\n    participants {\n      identifier\n      displayName\n      isSelf\n      role\n      phoneNumber\n      crmMatch {\n        contact {\n          id\n          name\n        }\n        company {\n          id\n          name\n        }\n        method\n        confidence\n        ambiguous\n      }\n    }\n    storage {\n      stored\n      shouldStore\n      reason\n      storedAt\n    }\n    links {\n      id\n      target {\n        id\n        kind\n        name\n      }\n      source\n      rule\n    }\n  }\n": types.ConversationRowFieldsFragmentDoc,
    "\n  query Viewer {\n    viewer {\n      user {\n        id\n        email\n        name\n      }\n      workspace {\n        id\n        name\n      }\n    }\n    accounts {\n      ...AccountFields\n    }\n  }\n": types.ViewerDocument,
    "\n  fragment AccountFields on Account {\n    id\n    name\n    channel\n    provider\n    status\n    lastError\n  }\n": types.AccountFieldsFragmentDoc,
    "\n  query Inbox($first: Int!, $after: String, $filter: ConversationFilter) {\n    conversations(first: $first, after: $after, filter: $filter) {\n      edges {\n        node {\n          ...ConversationRowFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.InboxDocument,
    "\n  query Conversation($id: ID!, $after: String) {\n    conversation(id: $id) {\n      ...ConversationRowFields\n      messages(first: 30, after: $after) {\n        edges {\n          node {\n            id\n            direction\n            text\n            html\n            sentAt\n            isRead\n            sender {\n              identifier\n              displayName\n              isSelf\n            }\n            recipients {\n              identifier\n              displayName\n              role\n            }\n            attachments {\n              name\n              size\n              mimeType\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.ConversationDocument,
    "\n  query SearchCrm($search: String) {\n    contacts(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          company {\n            name\n          }\n          emails {\n            value\n          }\n        }\n      }\n    }\n    companies(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          domains\n        }\n      }\n    }\n  }\n": types.SearchCrmDocument,
    "\n  fragment MutationErrorFields on MutationError {\n    code\n    message\n    field\n  }\n": types.MutationErrorFieldsFragmentDoc,
    "\n  mutation LinkConversation($input: LinkConversationInput!) {\n    linkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.LinkConversationDocument,
    "\n  mutation UnlinkConversation($input: LinkConversationInput!) {\n    unlinkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.UnlinkConversationDocument,
    "\n  mutation StoreConversation($input: ConversationInput!) {\n    storeConversation(input: $input) {\n      messagesAdded\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.StoreConversationDocument,
    "\n  mutation StoreConversations($input: ConversationsInput!) {\n    storeConversations(input: $input) {\n      results {\n        conversationId\n        messagesAdded\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.StoreConversationsDocument,
    "\n  mutation LinkConversations($input: LinkConversationsInput!) {\n    linkConversations(input: $input) {\n      results {\n        conversationId\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.LinkConversationsDocument,
    "\n  mutation ForgetConversation($input: ForgetConversationInput!) {\n    forgetConversation(input: $input) {\n      forgotten\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.ForgetConversationDocument,
    "\n  mutation CreateContactFromParticipant($input: CreateContactFromParticipantInput!) {\n    createContactFromParticipant(input: $input) {\n      contact {\n        id\n        name\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.CreateContactFromParticipantDocument,
    "\n  mutation SendMessage($input: SendMessageInput!) {\n    sendMessage(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.SendMessageDocument,
    "\n  mutation ReplyToConversation($input: ReplyToConversationInput!) {\n    replyToConversation(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n": types.ReplyToConversationDocument,
    "\n  subscription MessageReceived {\n    messageReceived {\n      message {\n        id\n      }\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n": types.MessageReceivedDocument,
    "\n  subscription ConversationUpdated {\n    conversationUpdated {\n      conversationId\n      change\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n": types.ConversationUpdatedDocument,
    "\n  subscription AccountStatusChanged {\n    accountStatusChanged {\n      ...AccountFields\n    }\n  }\n": types.AccountStatusChangedDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ConversationRowFields on Conversation {\n    id\n    externalId\n    channel\n    subject\n    isGroup\n    lastMessageAt\n    lastMessagePreview\n    unreadCount\n    hasAttachments\n    canLink\n    source\n    account {\n      id\n      name\n      provider\n    }\n    participants {\n      identifier\n      displayName\n      isSelf\n      role\n      phoneNumber\n      crmMatch {\n        contact {\n          id\n          name\n        }\n        company {\n          id\n          name\n        }\n        method\n        confidence\n        ambiguous\n      }\n    }\n    storage {\n      stored\n      shouldStore\n      reason\n      storedAt\n    }\n    links {\n      id\n      target {\n        id\n        kind\n        name\n      }\n      source\n      rule\n    }\n  }\n"): (typeof documents)["\n  fragment ConversationRowFields on Conversation {\n    id\n    externalId\n    channel\n    subject\n    isGroup\n    lastMessageAt\n    lastMessagePreview\n    unreadCount\n    hasAttachments\n    canLink\n    source\n    account {\n      id\n      name\n      provider\n    }\n    participants {\n      identifier\n      displayName\n      isSelf\n      role\n      phoneNumber\n      crmMatch {\n        contact {\n          id\n          name\n        }\n        company {\n          id\n          name\n        }\n        method\n        confidence\n        ambiguous\n      }\n    }\n    storage {\n      stored\n      shouldStore\n      reason\n      storedAt\n    }\n    links {\n      id\n      target {\n        id\n        kind\n        name\n      }\n      source\n      rule\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Viewer {\n    viewer {\n      user {\n        id\n        email\n        name\n      }\n      workspace {\n        id\n        name\n      }\n    }\n    accounts {\n      ...AccountFields\n    }\n  }\n"): (typeof documents)["\n  query Viewer {\n    viewer {\n      user {\n        id\n        email\n        name\n      }\n      workspace {\n        id\n        name\n      }\n    }\n    accounts {\n      ...AccountFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment AccountFields on Account {\n    id\n    name\n    channel\n    provider\n    status\n    lastError\n  }\n"): (typeof documents)["\n  fragment AccountFields on Account {\n    id\n    name\n    channel\n    provider\n    status\n    lastError\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Inbox($first: Int!, $after: String, $filter: ConversationFilter) {\n    conversations(first: $first, after: $after, filter: $filter) {\n      edges {\n        node {\n          ...ConversationRowFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Inbox($first: Int!, $after: String, $filter: ConversationFilter) {\n    conversations(first: $first, after: $after, filter: $filter) {\n      edges {\n        node {\n          ...ConversationRowFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Conversation($id: ID!, $after: String) {\n    conversation(id: $id) {\n      ...ConversationRowFields\n      messages(first: 30, after: $after) {\n        edges {\n          node {\n            id\n            direction\n            text\n            html\n            sentAt\n            isRead\n            sender {\n              identifier\n              displayName\n              isSelf\n            }\n            recipients {\n              identifier\n              displayName\n              role\n            }\n            attachments {\n              name\n              size\n              mimeType\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Conversation($id: ID!, $after: String) {\n    conversation(id: $id) {\n      ...ConversationRowFields\n      messages(first: 30, after: $after) {\n        edges {\n          node {\n            id\n            direction\n            text\n            html\n            sentAt\n            isRead\n            sender {\n              identifier\n              displayName\n              isSelf\n            }\n            recipients {\n              identifier\n              displayName\n              role\n            }\n            attachments {\n              name\n              size\n              mimeType\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query SearchCrm($search: String) {\n    contacts(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          company {\n            name\n          }\n          emails {\n            value\n          }\n        }\n      }\n    }\n    companies(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          domains\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query SearchCrm($search: String) {\n    contacts(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          company {\n            name\n          }\n          emails {\n            value\n          }\n        }\n      }\n    }\n    companies(first: 10, search: $search) {\n      edges {\n        node {\n          id\n          name\n          domains\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment MutationErrorFields on MutationError {\n    code\n    message\n    field\n  }\n"): (typeof documents)["\n  fragment MutationErrorFields on MutationError {\n    code\n    message\n    field\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LinkConversation($input: LinkConversationInput!) {\n    linkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation LinkConversation($input: LinkConversationInput!) {\n    linkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UnlinkConversation($input: LinkConversationInput!) {\n    unlinkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation UnlinkConversation($input: LinkConversationInput!) {\n    unlinkConversation(input: $input) {\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StoreConversation($input: ConversationInput!) {\n    storeConversation(input: $input) {\n      messagesAdded\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation StoreConversation($input: ConversationInput!) {\n    storeConversation(input: $input) {\n      messagesAdded\n      conversation {\n        ...ConversationRowFields\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StoreConversations($input: ConversationsInput!) {\n    storeConversations(input: $input) {\n      results {\n        conversationId\n        messagesAdded\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation StoreConversations($input: ConversationsInput!) {\n    storeConversations(input: $input) {\n      results {\n        conversationId\n        messagesAdded\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LinkConversations($input: LinkConversationsInput!) {\n    linkConversations(input: $input) {\n      results {\n        conversationId\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation LinkConversations($input: LinkConversationsInput!) {\n    linkConversations(input: $input) {\n      results {\n        conversationId\n        conversation {\n          ...ConversationRowFields\n        }\n        error {\n          ...MutationErrorFields\n        }\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ForgetConversation($input: ForgetConversationInput!) {\n    forgetConversation(input: $input) {\n      forgotten\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ForgetConversation($input: ForgetConversationInput!) {\n    forgetConversation(input: $input) {\n      forgotten\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateContactFromParticipant($input: CreateContactFromParticipantInput!) {\n    createContactFromParticipant(input: $input) {\n      contact {\n        id\n        name\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateContactFromParticipant($input: CreateContactFromParticipantInput!) {\n    createContactFromParticipant(input: $input) {\n      contact {\n        id\n        name\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SendMessage($input: SendMessageInput!) {\n    sendMessage(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SendMessage($input: SendMessageInput!) {\n    sendMessage(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ReplyToConversation($input: ReplyToConversationInput!) {\n    replyToConversation(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ReplyToConversation($input: ReplyToConversationInput!) {\n    replyToConversation(input: $input) {\n      message {\n        id\n      }\n      error {\n        ...MutationErrorFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription MessageReceived {\n    messageReceived {\n      message {\n        id\n      }\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription MessageReceived {\n    messageReceived {\n      message {\n        id\n      }\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConversationUpdated {\n    conversationUpdated {\n      conversationId\n      change\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ConversationUpdated {\n    conversationUpdated {\n      conversationId\n      change\n      conversation {\n        ...ConversationRowFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription AccountStatusChanged {\n    accountStatusChanged {\n      ...AccountFields\n    }\n  }\n"): (typeof documents)["\n  subscription AccountStatusChanged {\n    accountStatusChanged {\n      ...AccountFields\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;